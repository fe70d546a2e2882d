"""RELIABILITY C1-C6 against the production HTTP app (bot.ingress.http), with signed realistic
requests."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.chat import AgentReply
from bot.localslack import sign
from tests.bot.world import ANA, SIGNING_SECRET, World, slack_world, wait_text


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as w:
        yield w


def _post(
    w: World,
    body: bytes,
    *,
    ts: int | None = None,
    secret: str = SIGNING_SECRET,
    signature: str | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    ts = int(time.time()) if ts is None else ts
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature or sign(secret, ts, body),
        **(extra or {}),
    }
    return httpx.post(w.http.url, content=body, headers=headers)


def _mention_envelope(w: World, text: str, event_id: str = "Ev0TEST0001") -> bytes:
    ts = w.slack.send_message(ANA, "ops", "plain text, not for the bot")
    event = {
        "type": "app_mention",
        "user": ANA,
        "text": f"<@{w.bot}> {text}",
        "ts": ts,
        "channel": w.slack.channel_id("ops"),
        "event_ts": ts,
    }
    envelope = {
        "type": "event_callback",
        "team_id": w.slack.team_id,
        "api_app_id": "A0LOCAL01",
        "event": event,
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": w.slack.team_id, "user_id": w.bot, "is_bot": True}],
    }
    return json.dumps(envelope).encode()


def _count_turns(w: World) -> list[str]:
    seen: list[str] = []
    real = w.oh.agent.ask

    def counting(text: str, **kw: object) -> AgentReply:
        seen.append(text)
        return real(text, **kw)  # type: ignore[arg-type]

    w.oh.agent.ask = counting  # type: ignore[method-assign]
    return seen


def test_c1_missing_bad_or_altered_signature_is_401_and_nothing_runs(world: World) -> None:
    turns = _count_turns(world)
    body = _mention_envelope(world, "what depends on contoso-erp-db?")
    assert _post(world, body, signature="v0=" + "0" * 64).status_code == 401
    assert _post(world, body, secret="not-the-secret").status_code == 401
    r = httpx.post(world.http.url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    ts = int(time.time())
    good = sign(SIGNING_SECRET, ts, body)
    altered = body.replace(b"depends", b"depenDs")  # one byte
    assert _post(world, altered, ts=ts, signature=good).status_code == 401
    time.sleep(0.3)
    assert turns == []


def test_c2_timestamp_more_than_five_minutes_off_is_401(world: World) -> None:
    turns = _count_turns(world)
    body = _mention_envelope(world, "hello")
    assert _post(world, body, ts=int(time.time()) - 301).status_code == 401
    assert _post(world, body, ts=int(time.time()) + 400).status_code == 401
    time.sleep(0.3)
    assert turns == []


def test_c3_replayed_request_is_processed_once(world: World) -> None:
    turns = _count_turns(world)
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> what depends on contoso-erp-db?")
    wait_text(world, "ops", "contoso-erp-db", thread_ts=ts)
    first = [
        a
        for a in world.slack.deliveries()
        if a.payload.get("event", {}).get("type") == "app_mention"
    ][-1]
    assert world.slack.replay(first, same_timestamp=True) == 200  # byte for byte
    assert world.slack.replay(first) == 200  # re-signed now: same event id
    time.sleep(0.5)
    assert len(turns) == 1
    assert len(world.slack.messages("ops", thread_ts=ts)) == 2  # question + one answer


def test_c4_slow_handler_is_acknowledged_in_time_and_retries_run_once(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        real = w.oh.agent.ask
        calls: list[str] = []

        def slow(text: str, **kw: object) -> AgentReply:
            calls.append(text)
            time.sleep(5)
            return real(text, **kw)  # type: ignore[arg-type]

        w.oh.agent.ask = slow  # type: ignore[method-assign]
        ts = w.slack.send_message(ANA, "ops", f"<@{w.bot}> what depends on contoso-erp-db?")
        mention = [
            a
            for a in w.slack.deliveries()
            if a.payload.get("event", {}).get("type") == "app_mention"
        ]
        # LocalSlack waits 3 s for each answer like Slack: a 200 here means acked in time,
        # and so no retry was needed.
        assert [(a.status, a.retry_num) for a in mention] == [(200, 0)]
        assert w.slack.replay(mention[0], retry_num=1) == 200  # Slack retries anyway
        wait_text(w, "ops", "contoso-erp-db", thread_ts=ts, timeout=20)
        assert len(calls) == 1


def test_c5_rate_limited_post_waits_as_told_and_is_sent_once(world: World) -> None:
    world.slack.rate_limit_next("chat.postMessage", retry_after=1)
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> what depends on contoso-erp-db?")
    wait_text(world, "ops", "contoso-erp-db", thread_ts=ts)
    posts = [c for c in world.slack.calls("chat.postMessage") if c.params.get("thread_ts") == ts]
    assert len(posts) == 2  # the 429 and the retry
    assert (
        len([m for m in world.slack.messages("ops", thread_ts=ts) if m.get("user") == world.bot])
        == 1
    )


def test_c5_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState

    from bot.app import CappedRateLimitHandler

    handler = CappedRateLimitHandler(max_wait=30)
    req = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})
    slow = HttpResponse(status_code=429, headers={"Retry-After": ["600"]})
    ok = HttpResponse(status_code=429, headers={"Retry-After": ["2"]})
    state = RetryState()
    assert handler.can_retry(state=state, request=req, response=ok)
    assert not handler.can_retry(state=state, request=req, response=slow)


def test_c6_unknown_event_type_is_acknowledged_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status = world.slack.send_event({"type": "reaction_added", "user": ANA, "reaction": "eyes"})
    assert status == 200
    unknown = [
        a
        for a in world.slack.deliveries()
        if a.payload.get("event", {}).get("type") == "reaction_added"
    ]
    assert len(unknown) == 1  # not retried
    world.slack.wait_for(lambda: "no handler" in caplog.text, timeout=5)  # logged after the ack
    assert "'reaction_added' has no handler" in caplog.text


def test_c6_oversized_and_malformed_payloads_get_4xx_and_the_app_keeps_serving(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    huge = b'{"type":"event_callback","pad":"' + b"x" * 1_100_000 + b'"}'
    assert _post(world, huge).status_code == 413
    assert _post(world, b"{not json").status_code == 400
    assert _post(world, b"[1, 2]").status_code == 400
    assert "is over 1000000" in caplog.text and "malformed payload" in caplog.text
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> what depends on contoso-erp-db?")
    assert "contoso-erp-db" in wait_text(world, "ops", "contoso-erp-db", thread_ts=ts)


def test_url_verification_health_and_readiness(world: World) -> None:
    assert world.slack.verify_url()
    base = world.http.base_url
    assert httpx.get(base + "/healthz").json() == {"ok": True}
    ready = httpx.get(base + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok" and ready.json()["slack"] == "ok"


def test_readiness_fails_when_slack_is_unreachable(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        base = w.http.base_url
        w.slack.stop()
        r = httpx.get(base + "/readyz")
        assert r.status_code == 503
        assert r.json()["slack"] != "ok"


def test_concurrent_mentions_each_answered_once(world: World) -> None:
    asked: list[str] = []

    def ask(i: int) -> None:
        asked.append(world.slack.send_message(ANA, "ops", f"<@{world.bot}> what is down? #{i}"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def answered() -> list[int]:
        per = [
            len([m for m in world.slack.messages("ops", thread_ts=ts) if m.get("bot_id")])
            for ts in asked
        ]
        return per if all(per) else []

    world.slack.wait_for(answered, timeout=30)
    time.sleep(0.3)
    assert answered() == [1, 1, 1, 1, 1]
