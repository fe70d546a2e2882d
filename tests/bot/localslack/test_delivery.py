"""Deliveries are signed like Slack's, and retried like Slack's when the bot is slow or fails."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from slack_bolt import BoltRequest, Say
from slack_sdk.signature import SignatureVerifier

from bot.localslack import BoltServer, LocalSlack, sign
from tests.bot.localslack.conftest import ANA, SECRET, BoltFactory, make_app


def test_signature_matches_slack_sdk_verifier() -> None:
    body = b'{"type":"event_callback"}'
    now = int(time.time())
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body=body, timestamp=str(now), signature=sign(SECRET, now, body))
    assert not verifier.is_valid(
        body=body + b" ", timestamp=str(now), signature=sign(SECRET, now, body)
    )


def test_c1_forged_signature_is_refused_by_bolt_and_retried_like_slack() -> None:
    with LocalSlack(signing_secret="not-the-secret", retry_delays=(0.0, 0.0, 0.0)) as slack:
        app = make_app(slack)
        called: list[str] = []

        @app.event("app_mention")
        def on_mention(event: dict[str, Any]) -> None:
            called.append(event["text"])

        with BoltServer(app) as server:
            slack.bot_url = server.url
            slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> hello")
        attempts = slack.deliveries()
        assert [(a.retry_num, a.status, a.reason) for a in attempts] == [
            (0, 401, "http_error"),
            (1, 401, "http_error"),
            (2, 401, "http_error"),
            (3, 401, "http_error"),
        ]
        assert called == []


def test_c1_body_altered_by_one_byte_is_401(slack: LocalSlack, bolt: BoltFactory) -> None:
    bolt()
    assert slack.bot_url is not None
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    now = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": sign(SECRET, now, body),
    }
    good = httpx.post(slack.bot_url, content=body, headers=headers)
    assert good.status_code == 200
    bad = httpx.post(slack.bot_url, content=body.replace(b"abc", b"abd"), headers=headers)
    assert bad.status_code == 401


def test_c2_stale_timestamp_is_401(slack: LocalSlack, bolt: BoltFactory) -> None:
    bolt()
    assert slack.bot_url is not None
    body = b'{"type":"url_verification","challenge":"abc"}'
    old = int(time.time()) - 301
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(old),
        "X-Slack-Signature": sign(SECRET, old, body),
    }
    assert httpx.post(slack.bot_url, content=body, headers=headers).status_code == 401


def test_c4_slow_handler_gets_a_slack_retry_with_retry_headers() -> None:
    with LocalSlack(signing_secret=SECRET, ack_timeout=0.5, retry_delays=(0.0, 0.0, 0.0)) as slack:
        # process_before_response makes Bolt answer only after the listener: the slow case.
        app = make_app(slack, process_before_response=True)
        seen: list[tuple[str, str]] = []
        release = threading.Event()

        @app.event("app_mention")
        def slow(request: BoltRequest, say: Say) -> None:
            num = request.headers.get("x-slack-retry-num", ["0"])[0]
            reason = request.headers.get("x-slack-retry-reason", [""])[0]
            seen.append((num, reason))
            if num == "0":
                release.wait(2.0)

        with BoltServer(app) as server:
            slack.bot_url = server.url
            slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> slow one")
            release.set()
        attempts = slack.deliveries()
        assert [(a.retry_num, a.status, a.reason) for a in attempts] == [
            (0, 0, "http_timeout"),
            (1, 200, None),
        ]
        assert attempts[0].payload["event_id"] == attempts[1].payload["event_id"]
        assert sorted(seen) == [("0", ""), ("1", "http_timeout")]


def test_interactions_are_not_retried() -> None:
    with LocalSlack(signing_secret="wrong", retry_delays=(0.0, 0.0, 0.0)) as slack:
        app = make_app(slack)
        with BoltServer(app) as server:
            slack.bot_url = server.url
            assert slack.slash(ANA, "ops", "/opshand", "hi") == 401
        assert len(slack.deliveries()) == 1


def test_no_bot_url_stores_messages_without_delivery(slack: LocalSlack) -> None:
    ts = slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> anyone?")
    assert slack.messages("ops")[0]["ts"] == ts
    assert slack.deliveries() == []


def test_unreachable_bot_is_connection_failed() -> None:
    with LocalSlack(
        signing_secret=SECRET,
        bot_url="http://127.0.0.1:9/slack/events",
        retry_delays=(0.0,),
    ) as slack:
        slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> hello?")
        reasons = [a.reason for a in slack.deliveries()]
        assert reasons == ["connection_failed", "connection_failed"]


def test_url_verification_challenge_is_echoed_by_bolt(slack: LocalSlack, bolt: BoltFactory) -> None:
    bolt()
    assert slack.verify_url() is True
    [attempt] = slack.deliveries()
    assert attempt.payload["type"] == "url_verification"


def test_url_verification_fails_with_the_wrong_secret() -> None:
    with LocalSlack(signing_secret="wrong") as slack, BoltServer(make_app(slack)) as server:
        slack.bot_url = server.url
        assert slack.verify_url() is False


def test_replay_sends_the_same_payload_again(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    seen: list[tuple[str, str]] = []

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any], request: BoltRequest) -> None:
        seen.append((body["event_id"], request.headers.get("x-slack-retry-num", ["-"])[0]))

    slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> once")
    [first] = slack.deliveries()
    assert slack.replay(first, same_timestamp=True) == 200
    assert slack.replay(first, retry_num=1) == 200
    slack.wait_for(lambda: len(seen) == 3)
    assert {event_id for event_id, _ in seen} == {first.payload["event_id"]}
    assert sorted(num for _, num in seen) == ["-", "-", "1"]
    replayed = slack.deliveries()[1]
    assert replayed.request_body == first.request_body
    assert replayed.timestamp == first.timestamp


def test_send_event_delivers_unknown_event_types(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    reactions: list[str] = []

    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any]) -> None:
        reactions.append(event["reaction"])

    status = slack.send_event({"type": "reaction_added", "user": ANA, "reaction": "eyes"})
    assert status == 200
    assert slack.wait_for(lambda: reactions) == ["eyes"]
