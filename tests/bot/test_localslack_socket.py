"""LocalSlack's Socket Mode endpoint, driven by slack_sdk's real built-in SocketModeClient."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bot.localslack import LocalSlack

SECRET = "socket-test-signing-secret"
BOT_TOKEN = "xoxb-socket-test"
APP_TOKEN = "xapp-1-A0LOCAL01-socket-test"
ANA = "U0LOCAL01"

Answer = Callable[[SocketModeRequest], "dict[str, Any] | bool | None"]
"""What the test app does with an envelope: a payload to ack with, None (ack), False (no ack)."""


@dataclass
class App:
    """A minimal Socket Mode app: records every message, acks as ``answer`` says."""

    client: SocketModeClient
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[SocketModeRequest] = field(default_factory=list)
    answer: Answer = lambda _req: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def envelopes(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if "envelope_id" in m and kind in (None, m["type"])]


def _start_app(slack: LocalSlack) -> App:
    web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    client = SocketModeClient(app_token=APP_TOKEN, web_client=web, ping_interval=1)
    app = App(client=client)

    def on_message(_client: Any, message: dict[str, Any], _raw: str | None) -> None:
        with app.lock:
            app.messages.append(message)

    def on_request(c: Any, req: SocketModeRequest) -> None:
        app.requests.append(req)
        answer = app.answer(req)
        if answer is False:
            return
        payload = answer if isinstance(answer, dict) else None
        c.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload=payload)
        )

    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    client.connect()
    slack.socket_mode.wait_connected()
    return app


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    with LocalSlack(
        signing_secret=SECRET,
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN,
        ack_timeout=0.5,
        retry_delays=(0.0, 0.05, 0.05),
    ) as s:
        yield s


@pytest.fixture
def app(slack: LocalSlack) -> Iterator[App]:
    a = _start_app(slack)
    try:
        yield a
    finally:
        a.client.close()


def _mention(slack: LocalSlack, text: str = "what is down?") -> str:
    return slack.send_message(ANA, "#ops", f"<@{slack.bot_user_id}> {text}")


def test_connections_open_gives_a_ws_url_for_the_app_token_only(slack: LocalSlack) -> None:
    web = WebClient(base_url=slack.api_url)
    ok = web.apps_connections_open(app_token=APP_TOKEN)
    assert ok["url"].startswith(slack.base_url.replace("http", "ws", 1) + "link/?ticket=")
    with pytest.raises(SlackApiError) as bot_token:
        web.apps_connections_open(app_token=BOT_TOKEN)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as wrong:
        web.apps_connections_open(app_token="xapp-1-A0LOCAL01-someone-else")
    assert wrong.value.response["error"] == "invalid_auth"
    # Slack reads the app token from the Authorization header only
    as_form = httpx.post(slack.api_url + "apps.connections.open", data={"token": APP_TOKEN})
    assert as_form.json() == {"ok": False, "error": "not_authed"}
    assert len(slack.calls("apps.connections.open")) == 4


def test_socket_mode_off_refuses_every_app_token() -> None:
    with (
        LocalSlack(signing_secret=SECRET, app_token=None) as slack,
        pytest.raises(SlackApiError) as refused,
    ):
        WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response["error"] == "invalid_auth"


def test_a_ticket_opens_one_connection_and_a_made_up_one_none(slack: LocalSlack) -> None:
    url = WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    with connect(url) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello"
        assert hello["connection_info"]["app_id"] == "A0LOCAL01"
        assert hello["num_connections"] == 1
        with pytest.raises(InvalidStatus):
            connect(url)  # the same ticket again
    with pytest.raises(InvalidStatus):
        connect(url.split("?")[0] + "?ticket=guessed")


def test_hello_then_an_event_envelope_acked_once(slack: LocalSlack, app: App) -> None:
    slack.wait_for(lambda: app.messages)
    assert app.messages[0]["type"] == "hello"
    ts = _mention(slack)
    [envelope] = app.envelopes("events_api")
    assert envelope["accepts_response_payload"] is False
    assert envelope["retry_attempt"] == 0
    assert envelope["retry_reason"] == ""
    body = envelope["payload"]
    assert body["type"] == "event_callback" and body["event_id"]
    assert body["event"]["type"] == "app_mention" and body["event"]["ts"] == ts
    [attempt] = slack.socket_mode.attempts
    assert (attempt.kind, attempt.status, attempt.reason) == ("event", 200, None)
    assert slack.deliveries() == []  # nothing went over HTTP


def test_unacked_event_is_redelivered_with_retry_attempt_up_to_a_bound(
    slack: LocalSlack, app: App
) -> None:
    app.answer = lambda req: False
    status = slack.send_event({"type": "app_mention", "user": ANA, "text": "hi", "ts": "1.2"})
    assert status == 0
    envelopes = app.envelopes("events_api")
    assert [e["retry_attempt"] for e in envelopes] == [0, 1, 2, 3]
    assert [e["retry_reason"] for e in envelopes] == ["", "timeout", "timeout", "timeout"]
    assert len({e["envelope_id"] for e in envelopes}) == 1
    assert len({e["payload"]["event_id"] for e in envelopes}) == 1
    assert [a.reason for a in slack.socket_mode.attempts] == ["timeout"] * 4


def test_a_lost_ack_is_redelivered_and_the_retry_ack_ends_it(slack: LocalSlack, app: App) -> None:
    slack.socket_mode.drop_next_acks(1)
    status = slack.send_event({"type": "app_mention", "user": ANA, "text": "hi", "ts": "1.3"})
    assert status == 200
    assert [r.retry_attempt for r in app.requests] == [0, 1]
    assert [a.status for a in slack.socket_mode.attempts] == [0, 200]


def test_slash_command_ack_payload_is_shown_like_an_http_ack_body(
    slack: LocalSlack, app: App
) -> None:
    app.answer = lambda req: {"text": f"pong: {req.payload['text']}"}
    assert slack.slash(ANA, "#ops", "/opshand", "ping") == 200
    [envelope] = app.envelopes("slash_commands")
    assert envelope["accepts_response_payload"] is True
    assert envelope["payload"]["command"] == "/opshand"
    assert envelope["payload"]["user_id"] == ANA
    assert "retry_attempt" not in envelope
    assert [e["text"] for e in slack.ephemerals(ANA, "ops")] == ["pong: ping"]


def test_button_click_arrives_as_interactive_and_is_not_retried(
    slack: LocalSlack, app: App
) -> None:
    web = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    button = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
    posted = web.chat_postMessage(
        channel=slack.channel_id("ops"),
        text="card",
        blocks=[{"type": "actions", "elements": [button]}],
    )
    app.answer = lambda req: False
    assert slack.click(ANA, "ops", posted["ts"], "go") == 0  # not acked: the user sees an error
    [envelope] = app.envelopes("interactive")
    assert envelope["payload"]["type"] == "block_actions"
    assert envelope["payload"]["actions"][0]["action_id"] == "go"
    assert envelope["accepts_response_payload"] is False
    app.answer = lambda req: None
    assert slack.click(ANA, "ops", posted["ts"], "go") == 200


def test_disconnect_makes_the_client_reconnect_and_delivery_follows(
    slack: LocalSlack, app: App
) -> None:
    assert slack.socket_mode.disconnect("refresh_requested", grace=0.3) == 1
    slack.wait_for(lambda: len(slack.calls("apps.connections.open")) == 2, timeout=10)
    slack.wait_for(
        lambda: [m for m in app.messages if m["type"] == "hello"][1:] or None, timeout=10
    )
    # the old link is closed after its grace period; one connection stays
    slack.wait_for(lambda: slack.socket_mode.connections == 1, timeout=10)
    _mention(slack)
    assert len(app.envelopes("events_api")) == 1
    assert slack.socket_mode.attempts[-1].status == 200


def test_http_is_used_again_once_the_socket_client_is_gone(slack: LocalSlack, app: App) -> None:
    slack.bot_url = "http://127.0.0.1:9/slack/events"  # nothing listens there
    _mention(slack)
    assert slack.deliveries() == [] and len(app.envelopes("events_api")) == 1
    app.client.close()
    slack.wait_for(lambda: not slack.socket_mode.connected, timeout=10)
    _mention(slack)
    assert len(app.envelopes("events_api")) == 1
    assert slack.deliveries() and slack.deliveries()[0].reason == "connection_failed"
