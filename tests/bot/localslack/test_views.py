"""Modal stacks, view updates, trigger expiry and ``response_url`` limits."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.localslack import BoltServer, LocalSlack
from tests.bot.localslack.conftest import ANA, SECRET, TOKEN, BoltFactory, make_app
from tests.bot.localslack.test_bolt_flows import MODAL


def _trigger(slack: LocalSlack, user_id: str = ANA) -> str:
    # A trigger as a click or command would hand the bot.
    return slack.people.ctx.new_trigger(user_id)


def test_views_update_push_and_hash_conflict(slack: LocalSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id=_trigger(slack), view=MODAL)["view"]
    assert opened["root_view_id"] == opened["id"]
    pushed = client.views_push(trigger_id=_trigger(slack), view=MODAL)["view"]
    assert pushed["previous_view_id"] == opened["id"]
    assert slack.view_for(ANA) == pushed
    changed = dict(MODAL, title={"type": "plain_text", "text": "Changed"})
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id=opened["id"], view=changed, hash="stale.hash")
    assert exc.value.response["error"] == "hash_conflict"
    updated = client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])["view"]
    assert updated["title"]["text"] == "Changed"
    assert updated["hash"] != opened["hash"]
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id="V0NOPE0000", view=changed)
    assert exc.value.response["error"] == "not_found"
    client.views_push(trigger_id=_trigger(slack), view=MODAL)
    with pytest.raises(SlackApiError) as exc:
        client.views_push(trigger_id=_trigger(slack), view=MODAL)
    assert exc.value.response["error"] == "push_limit_reached"


def test_modal_title_longer_than_24_is_invalid_arguments(
    slack: LocalSlack, client: WebClient
) -> None:
    view = dict(MODAL, title={"type": "plain_text", "text": "x" * 25})
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id=_trigger(slack), view=view)
    assert exc.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in exc.value.response["response_metadata"]["messages"][0]


def test_trigger_expires_after_its_ttl() -> None:
    with LocalSlack(signing_secret=SECRET, trigger_ttl=0.05) as slack:
        trigger = _trigger(slack)
        time.sleep(0.1)
        with pytest.raises(SlackApiError) as exc:
            WebClient(token=TOKEN, base_url=slack.api_url).views_open(
                trigger_id=trigger, view=MODAL
            )
        assert exc.value.response["error"] == "expired_trigger_id"


def test_cancel_sends_view_closed_when_asked(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    closed: list[str] = []

    @app.view_closed("change_request")
    def on_closed(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        closed.append(view["id"])

    view = WebClient(token=TOKEN, base_url=slack.api_url).views_open(
        trigger_id=_trigger(slack), view=dict(MODAL, notify_on_close=True)
    )["view"]
    assert slack.close_view(ANA, view["id"]) == 200
    assert slack.view_for(ANA) is None
    assert slack.wait_for(lambda: closed) == [view["id"]]


def test_response_url_allows_five_posts() -> None:
    with LocalSlack(signing_secret=SECRET) as other:
        app = make_app(other)
        urls: list[str] = []

        @app.command("/x")
        def on_x(ack: Ack, command: dict[str, Any]) -> None:
            ack()
            urls.append(command["response_url"])

        with BoltServer(app) as server:
            other.bot_url = server.url
            other.slash(ANA, "ops", "/x", "")
            url = other.wait_for(lambda: urls)[0]
        codes = [httpx.post(url, json={"text": f"n{i}"}).status_code for i in range(6)]
        assert codes == [200, 200, 200, 200, 200, 404]
        assert len(other.ephemerals(ANA)) == 5
        assert httpx.post(url.rsplit("/", 1)[0] + "/nope", json={"text": "x"}).status_code == 404


def test_chat_delete_only_the_bots_messages(slack: LocalSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0LOCALOPS", text="oops")["ts"]
    mine = slack.send_message(ANA, "ops", "keep")
    assert client.chat_delete(channel="C0LOCALOPS", ts=ts)["ok"] is True
    with pytest.raises(SlackApiError) as exc:
        client.chat_delete(channel="C0LOCALOPS", ts=mine)
    assert exc.value.response["error"] == "cant_delete_message"
    assert [m["text"] for m in slack.messages("ops")] == ["keep"]
