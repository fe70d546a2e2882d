"""The durable Slack inbox (bot.ingress.inbox) on SQLite and PostgreSQL, through a real Bolt app.

The Bolt app here has the production de-duplication middleware and fallback, and one
``app_mention`` listener that answers in the thread through the local Slack Web API, so "the
event was handled" means "an answer is in the local workspace".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from sqlalchemy import Engine, func, select

from agent.audit import Redactor
from bot.ingress import KEEP_DONE, Inbox, Receipt
from bot.ingress.inbox import CLAIM_BATCH
from bot.listeners.middleware import register_fallback, register_middleware
from bot.localslack import LocalSlack, sign
from bot.localslack.payloads import event_envelope
from bot.tables import claim_key, inbox_table
from twin.model import utcnow

SECRET = "inbox-test-signing-secret-01"
TOKEN = "xoxb-inbox-test-0001"
ANA = "U0LOCAL01"
LEASE = timedelta(seconds=60)


class Clock:
    """A settable clock for leases (Bolt still checks signatures against the wall clock)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return utcnow() + self.offset


class Handled:
    """What the listener saw, across threads."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.lock = threading.Lock()

    def add(self, text: str) -> None:
        with self.lock:
            self.texts.append(text)


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    with LocalSlack(signing_secret=SECRET, bot_token=TOKEN, events=("app_mention",)) as s:
        yield s


def make_bolt(engine: Engine, slack: LocalSlack, handled: Handled) -> App:
    """A Bolt app like production's: dedupe middleware, one listener, the fallback."""
    app = App(
        client=WebClient(token=TOKEN, base_url=slack.api_url),
        signing_secret=SECRET,
        process_before_response=False,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    register_middleware(app, engine)

    @app.middleware
    def gate(body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        text = str((body.get("event") or {}).get("text", ""))
        if "middleware-boom" in text:
            raise RuntimeError("middleware broke")
        if "middleware-skip" in text:
            return BoltResponse(status=200, body="")  # answered without any listener
        return next()

    @app.event("app_mention")
    def answer(event: dict[str, Any], client: WebClient) -> None:
        handled.add(event["text"])
        if "boom" in event["text"]:
            raise RuntimeError(f"upstream refused token {TOKEN}")
        client.chat_postMessage(
            channel=event["channel"], thread_ts=event["ts"], text=f"answer to {event['ts']}"
        )

    register_fallback(app)
    return app


def inbox_for(
    engine: Engine,
    bolt: App,
    owner: str,
    *,
    clock: Callable[[], datetime] = utcnow,
    max_attempts: int = 3,
    redact: Callable[[str], str] | None = None,
) -> Inbox:
    return Inbox(
        engine,
        bolt,
        signing_secret=SECRET,
        owner=owner,
        lease=LEASE,
        max_attempts=max_attempts,
        now=clock,
        redact=redact,
    )


def mention(slack: LocalSlack, text: str) -> tuple[str, dict[str, Any]]:
    """A user's mention in #ops, stored in the workspace; returns (raw body, payload)."""
    full = f"<@{slack.bot_user_id}> {text}"
    ts = slack.send_message(ANA, "ops", full)
    channel = slack.channel_id("ops")
    payload = event_envelope(
        {
            "type": "app_mention",
            "user": ANA,
            "text": full,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
    )
    return json.dumps(payload), payload


def row(engine: Engine, event_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(inbox_table).where(inbox_table.c.event_id == event_id)
        ).one_or_none()


def states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(inbox_table.c.state, func.count()).group_by(inbox_table.c.state)
        ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def answers(slack: LocalSlack, payload: dict[str, Any]) -> list[dict[str, Any]]:
    ts = payload["event"]["ts"]
    return [m for m in slack.messages("ops", thread_ts=ts) if m.get("bot_id")]


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def settled(inbox: Inbox, engine: Engine, event_id: str) -> Callable[[], bool]:
    """The dispatch of ``event_id`` by ``inbox`` has finished and been recorded."""

    def check() -> bool:
        r = row(engine, event_id)
        return event_id not in inbox.held() and (r.state != "pending" or r.last_error is not None)

    return check


def leave_behind(engine: Engine, bolt: App, body: str, payload: dict[str, Any], ago: float) -> None:
    """A replica that stored the event ``ago`` seconds ago, acked it, and died."""
    dead = inbox_for(engine, bolt, "replica-dead", clock=Clock(timedelta(seconds=-ago)))
    assert dead.accept(body, payload) is not None


def test_accepted_event_is_answered_and_marked_done(engine: Engine, slack: LocalSlack) -> None:
    handled = Handled()
    inbox = inbox_for(engine, make_bolt(engine, slack, handled), "replica-a")
    body, payload = mention(slack, "what depends on db-01?")
    receipt = inbox.accept(body, payload)
    assert receipt == Receipt(
        event_id=payload["event_id"], event_type="app_mention", body=body, attempt=1
    )
    stored = row(engine, payload["event_id"])
    assert (stored.state, stored.attempts, stored.owner, stored.body) == (
        "pending",
        1,
        "replica-a",
        body,
    )
    assert stored.team_id == payload["team_id"]
    inbox.dispatch(receipt)
    wait_until(lambda: row(engine, payload["event_id"]).state == "done")
    assert row(engine, payload["event_id"]).done_at is not None
    assert len(answers(slack, payload)) == 1
    assert handled.texts == [payload["event"]["text"]]
    assert inbox.held() == []


def test_duplicate_event_id_is_dropped_at_the_insert(engine: Engine, slack: LocalSlack) -> None:
    bolt = make_bolt(engine, slack, Handled())
    body, payload = mention(slack, "hello")
    assert inbox_for(engine, bolt, "replica-a").accept(body, payload) is not None
    # a Slack retry to the same replica, or the same event delivered to another one
    assert inbox_for(engine, bolt, "replica-a").accept(body, payload) is None
    assert inbox_for(engine, bolt, "replica-b").accept(body, payload) is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox_table)).scalar_one() == 1
    assert row(engine, payload["event_id"]).owner == "replica-a"


def test_event_left_by_a_dead_replica_is_replayed_once_by_another(
    engine: Engine, slack: LocalSlack
) -> None:
    handled = Handled()
    bolt_dead = make_bolt(engine, slack, Handled())
    body, payload = mention(slack, "what depends on db-01?")
    event_id = payload["event_id"]
    leave_behind(engine, bolt_dead, body, payload, ago=10)
    # The dead replica's middleware had claimed the event id (the pre-inbox path did).
    assert claim_key(engine, event_id)
    later = Clock()
    b = inbox_for(engine, make_bolt(engine, slack, handled), "replica-b", clock=later)
    assert b.sweep() == 0  # its lease (60 s) has not run out yet: the holder may be working
    later.offset = timedelta(seconds=55)
    assert b.sweep() == 1
    wait_until(lambda: row(engine, event_id).state == "done")
    assert b.sweep() == 0
    c = inbox_for(engine, make_bolt(engine, slack, handled), "replica-c", clock=later)
    assert c.sweep() == 0
    time.sleep(0.2)
    assert handled.texts == [payload["event"]["text"]]
    assert len(answers(slack, payload)) == 1
    done = row(engine, event_id)
    assert (done.state, done.attempts, done.owner) == ("done", 2, "replica-b")


def test_holder_renews_its_lease_while_the_event_waits_or_runs(
    engine: Engine, slack: LocalSlack
) -> None:
    clock = Clock()
    bolt = make_bolt(engine, slack, Handled())
    a = inbox_for(engine, bolt, "replica-a", clock=clock)
    body, payload = mention(slack, "slow one")
    assert a.accept(body, payload) is not None  # queued here, not dispatched yet
    assert a.held() == [payload["event_id"]]
    clock.offset = timedelta(seconds=50)
    assert a.sweep() == 0  # renews: the lease now runs to +110 s
    b = inbox_for(engine, bolt, "replica-b", clock=Clock(timedelta(seconds=90)))
    assert b.sweep() == 0
    assert row(engine, payload["event_id"]).owner == "replica-a"
    c = inbox_for(engine, bolt, "replica-c", clock=Clock(timedelta(seconds=115)))
    assert c.sweep() == 1  # replica-a stopped renewing (it died): the event is taken over
    wait_until(lambda: row(engine, payload["event_id"]).state == "done")


def test_replay_long_after_receipt_passes_bolts_signature_check(
    engine: Engine, slack: LocalSlack
) -> None:
    handled = Handled()
    bolt = make_bolt(engine, slack, handled)
    body, payload = mention(slack, "are you there?")
    leave_behind(engine, bolt, body, payload, ago=600)
    # Slack's own signature, from when the event arrived ten minutes ago, no longer passes.
    old = int(time.time()) - 600
    headers: dict[str, str | Sequence[str]] = {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(old),
        "x-slack-signature": sign(SECRET, old, body.encode()),
    }
    assert bolt.dispatch(BoltRequest(body=body, headers=headers)).status == 401
    assert handled.texts == []
    inbox = inbox_for(engine, bolt, "replica-b")
    assert inbox.sweep() == 1
    wait_until(lambda: row(engine, payload["event_id"]).state == "done")
    assert len(answers(slack, payload)) == 1


def test_failing_listener_is_retried_then_dead_lettered(
    engine: Engine, slack: LocalSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    handled = Handled()
    redactor = Redactor()
    redactor.register(TOKEN)
    clock = Clock()
    inbox = inbox_for(
        engine,
        make_bolt(engine, slack, handled),
        "replica-a",
        clock=clock,
        redact=redactor.redact_text,
    )
    body, payload = mention(slack, "boom please")
    event_id = payload["event_id"]
    receipt = inbox.accept(body, payload)
    assert receipt is not None
    inbox.dispatch(receipt)
    wait_until(settled(inbox, engine, event_id))
    first = row(engine, event_id)
    assert (first.state, first.attempts) == ("pending", 1)
    assert first.last_error.startswith("RuntimeError: upstream refused token")
    assert TOKEN not in first.last_error
    for attempt in (2, 3):
        assert inbox.sweep() == 0  # left alone until the lease runs out
        clock.offset += LEASE + timedelta(seconds=1)
        assert inbox.sweep() == 1
        assert row(engine, event_id).attempts == attempt  # taken in the sweep's transaction
        wait_until(settled(inbox, engine, event_id))
        assert row(engine, event_id).state == "pending"
    clock.offset += LEASE + timedelta(seconds=1)
    assert inbox.sweep() == 0
    dead = row(engine, event_id)
    assert (dead.state, dead.attempts) == ("dead", 3)
    assert len(handled.texts) == 3
    assert answers(slack, payload) == []
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.ingress.inbox"
    ]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert event_id in message and "app_mention" in message and "3 attempts" in message
    assert "RuntimeError: upstream refused token" in message
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "bot.ingress.inbox")
    assert TOKEN not in ours and "boom please" not in ours
    clock.offset += timedelta(days=30)
    assert inbox.sweep() == 0  # dead rows are never retried (and pruned after a week)
    assert row(engine, event_id) is None


def test_error_text_without_a_redactor_is_the_type_only(engine: Engine, slack: LocalSlack) -> None:
    inbox = inbox_for(engine, make_bolt(engine, slack, Handled()), "replica-a")
    body, payload = mention(slack, "boom")
    receipt = inbox.accept(body, payload)
    assert receipt is not None
    inbox.dispatch(receipt)
    wait_until(settled(inbox, engine, payload["event_id"]))
    assert row(engine, payload["event_id"]).last_error == "RuntimeError"


def test_event_answered_by_a_middleware_is_done_and_a_middleware_error_is_not(
    engine: Engine, slack: LocalSlack
) -> None:
    handled = Handled()
    inbox = inbox_for(engine, make_bolt(engine, slack, handled), "replica-a")
    skipped_body, skipped = mention(slack, "middleware-skip")
    broken_body, broken = mention(slack, "middleware-boom")
    for body, payload in ((skipped_body, skipped), (broken_body, broken)):
        receipt = inbox.accept(body, payload)
        assert receipt is not None
        inbox.dispatch(receipt)  # no listener runs, so it settles before returning
    assert row(engine, skipped["event_id"]).state == "done"
    failed = row(engine, broken["event_id"])
    assert (failed.state, failed.last_error) == ("pending", "RuntimeError")
    assert handled.texts == [] and inbox.held() == []


def test_two_sweepers_racing_replay_each_event_once(engine: Engine, slack: LocalSlack) -> None:
    handled = Handled()
    bolt_dead = make_bolt(engine, slack, Handled())
    left = [mention(slack, f"question {n}") for n in range(CLAIM_BATCH + 5)]
    for body, payload in left:
        leave_behind(engine, bolt_dead, body, payload, ago=120)
    sweepers = [inbox_for(engine, make_bolt(engine, slack, handled), f"replica-{n}") for n in "bc"]
    start = threading.Barrier(len(sweepers))
    replayed: list[int] = []

    def run(inbox: Inbox) -> None:
        start.wait()
        replayed.append(inbox.sweep())

    threads = [threading.Thread(target=run, args=(s,)) for s in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(replayed) == len(left)
    wait_until(lambda: states(engine) == {"done": len(left)}, timeout=30)
    with engine.connect() as conn:
        attempts = conn.execute(select(inbox_table.c.attempts)).scalars().all()
    assert sorted(handled.texts) == sorted(p["event"]["text"] for _, p in left)
    assert set(attempts) == {2}
    for _, payload in left:
        assert len(answers(slack, payload)) == 1


def test_replayed_event_skips_the_event_id_claim_but_other_dispatches_do_not(
    engine: Engine, slack: LocalSlack
) -> None:
    handled = Handled()
    bolt = make_bolt(engine, slack, handled)
    body, payload = mention(slack, "hello")
    assert claim_key(engine, payload["event_id"])  # claimed by an earlier delivery
    ts = int(time.time())
    headers: dict[str, str | Sequence[str]] = {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(ts),
        "x-slack-signature": sign(SECRET, ts, body.encode()),
        # an outsider cannot mark a request as coming from the inbox with a header
        "x-opshand-inbox": "1",
    }
    assert bolt.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    time.sleep(0.2)
    assert handled.texts == []  # dropped by the middleware, as before the inbox
    inbox = inbox_for(engine, bolt, "replica-a")
    receipt = inbox.accept(body, payload)
    assert receipt is not None
    inbox.dispatch(receipt)
    wait_until(lambda: row(engine, payload["event_id"]).state == "done")
    assert handled.texts == [payload["event"]["text"]]
    # Slack retrying the finished event: the inbox drops it before Bolt sees it.
    assert inbox.accept(body, payload) is None


def test_old_done_rows_are_pruned(engine: Engine, slack: LocalSlack) -> None:
    clock = Clock()
    inbox = inbox_for(engine, make_bolt(engine, slack, Handled()), "replica-a", clock=clock)
    body, payload = mention(slack, "hello")
    receipt = inbox.accept(body, payload)
    assert receipt is not None
    inbox.dispatch(receipt)
    wait_until(lambda: row(engine, payload["event_id"]).state == "done")
    clock.offset = KEEP_DONE - timedelta(minutes=1)
    inbox.sweep()
    assert row(engine, payload["event_id"]) is not None
    clock.offset = KEEP_DONE + timedelta(minutes=1)
    inbox.sweep()
    assert row(engine, payload["event_id"]) is None


def test_concurrent_accepts_store_each_event_once_in_few_transactions(
    engine: Engine, slack: LocalSlack
) -> None:
    """Group commit: a burst is stored in a handful of inserts, and each id is accepted once."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    bolt = make_bolt(engine, slack, Handled())
    inbox = inbox_for(engine, bolt, "replica-a")
    events = [mention(slack, f"burst {i}") for i in range(40)]
    # every event twice: the original and a retry racing it, possibly in the same batch
    sends = events + events
    inserts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SLACK_INBOX"):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            got = list(pool.map(lambda e: inbox.accept(e[0], e[1]), sends))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    accepted = [r.event_id for r in got if r is not None]
    assert sorted(accepted) == sorted(p["event_id"] for _, p in events)
    assert states(engine) == {"pending": 40}
    assert len(inserts) < len(sends) / 2, f"{len(inserts)} inserts for {len(sends)} events"
