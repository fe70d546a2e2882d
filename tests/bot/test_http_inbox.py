"""HTTP mode with the durable inbox: bot.ingress.http + bot.ingress.inbox + the real Bolt app +
local Slack."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from adapters.sim import SimTimings
from agent.chat import AgentReply
from bot.app import build_app
from bot.bootstrap import Opshand, bootstrap
from bot.cli.serve import build_inbox
from bot.ingress import HttpServer, Inbox, create_http_app
from bot.localslack import LocalSlack
from bot.localslack.delivery import Attempt
from bot.metrics import Metrics
from bot.settings import Settings
from bot.tables import inbox_table
from tests.bot.world import ANA, BOT_TOKEN, EVENTS, SIGNING_SECRET, texts
from tests.conftest import _drop_schema, _pg_engine
from twin.model import utcnow

QUESTION = "what depends on contoso-erp-db?"


@dataclass
class InboxWorld:
    """opshand serving Slack over HTTP with the inbox, as ``opshand serve`` wires it."""

    oh: Opshand
    slack: LocalSlack
    http: HttpServer
    inbox: Inbox
    turns: list[str]


@contextmanager
def inbox_world(tmp_path: Path, db: str) -> Iterator[InboxWorld]:
    url, schema = None, ""
    if db == "postgres":
        schema = f"i_{uuid.uuid4().hex[:10]}"
        eng = _pg_engine(schema)
        url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
        eng.dispose()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        sample_endpoints=200,
        replica_id="replica-a",
        slack={"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN},
        inbox={"max_attempts": 3},
    )
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0))
    slack = LocalSlack(
        signing_secret=SIGNING_SECRET,
        bot_token=BOT_TOKEN,
        events=EVENTS,
        retry_delays=(0.0, 0.1, 0.2),
    )
    slack.start()
    bolt = build_app(oh, client=WebClient(token=BOT_TOKEN, base_url=slack.api_url))
    inbox = build_inbox(oh, bolt)
    app = create_http_app(bolt, engine=oh.engine, signing_secret=SIGNING_SECRET, inbox=inbox)
    http = HttpServer(app)
    http.start()
    slack.bot_url = http.url
    turns: list[str] = []
    real = oh.agent.ask

    def counting(text: str, **kw: Any) -> AgentReply:
        turns.append(text)
        return real(text, **kw)

    oh.agent.ask = counting  # type: ignore[method-assign]
    try:
        yield InboxWorld(oh, slack, http, inbox, turns)
    finally:
        http.stop()
        slack.stop()
        oh.close()
        if schema:
            _drop_schema(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InboxWorld]:
    with inbox_world(tmp_path, request.param) as w:
        yield w


def mentions(w: InboxWorld) -> list[Attempt]:
    return [
        a for a in w.slack.deliveries() if a.payload.get("event", {}).get("type") == "app_mention"
    ]


def stored(w: InboxWorld) -> list[Any]:
    with w.oh.engine.connect() as conn:
        return list(conn.execute(select(inbox_table)).all())


def state_of(w: InboxWorld, event_id: str) -> str | None:
    return next((str(r.state) for r in stored(w) if r.event_id == event_id), None)


def bot_replies(w: InboxWorld, ts: str) -> list[dict[str, Any]]:
    return [m for m in w.slack.messages("ops", thread_ts=ts) if m.get("bot_id")]


def wait_answer(w: InboxWorld, ts: str) -> None:
    """Wait for the bot's answer about contoso-erp-db in the thread of ``ts``."""
    w.slack.wait_for(lambda: "contoso-erp-db" in texts(bot_replies(w, ts)), timeout=20)


def gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_event_is_stored_before_the_ack_then_answered_and_marked_done(
    world: InboxWorld,
) -> None:
    release = threading.Event()
    real = world.oh.agent.ask

    def held_back(text: str, **kw: Any) -> AgentReply:
        release.wait(10)
        return real(text, **kw)

    world.oh.agent.ask = held_back  # type: ignore[method-assign]
    ts = world.slack.send_message(ANA, "ops", f"<@{world.slack.bot_user_id}> {QUESTION}")
    assert [(a.status, a.retry_num) for a in mentions(world)] == [(200, 0)]
    # Slack has its 200 and the listener is still working: the event is already durable.
    # (the plain ``message`` event of the same post is stored too, and done by now)
    event_id = mentions(world)[0].payload["event_id"]
    mine = [r for r in stored(world) if r.event_id == event_id]
    assert [(r.state, r.owner, r.attempts) for r in mine] == [("pending", "replica-a", 1)]
    release.set()
    wait_answer(world, ts)
    world.slack.wait_for(lambda: state_of(world, event_id) == "done", timeout=10)
    assert len(bot_replies(world, ts)) == 1


def test_slack_retry_of_a_done_event_is_acked_and_dropped(world: InboxWorld) -> None:
    ts = world.slack.send_message(ANA, "ops", f"<@{world.slack.bot_user_id}> {QUESTION}")
    wait_answer(world, ts)
    first = mentions(world)[0]
    world.slack.wait_for(lambda: state_of(world, first.payload["event_id"]) == "done")
    assert world.slack.replay(first, retry_num=1) == 200  # Slack's retry, re-signed now
    assert world.slack.replay(first, same_timestamp=True) == 200  # byte for byte
    time.sleep(0.5)
    assert len(world.turns) == 1
    assert len(bot_replies(world, ts)) == 1
    assert [r.attempts for r in stored(world) if r.event_id == first.payload["event_id"]] == [1]


def test_database_down_at_ack_time_answers_503_and_slacks_retry_is_handled(
    world: InboxWorld,
) -> None:
    # The first two inserts of the mention fail, as with the database down. (The plain
    # ``message`` event of the same post is delivered first and stored normally.)
    failures = [2]

    def down(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        inserting = statement.lstrip().upper().startswith("INSERT INTO SLACK_INBOX")
        if failures[0] and inserting and "app_mention" in str(parameters):
            failures[0] -= 1
            raise OperationalError(statement, None, ConnectionError("server closed"))

    event.listen(world.oh.engine, "before_cursor_execute", down)
    try:
        ts = world.slack.send_message(ANA, "ops", f"<@{world.slack.bot_user_id}> {QUESTION}")
    finally:
        event.remove(world.oh.engine, "before_cursor_execute", down)
    # Never a 200 for an event that was not stored: Slack retried until it was.
    assert [(a.status, a.retry_num) for a in mentions(world)] == [(503, 0), (503, 1), (200, 2)]
    wait_answer(world, ts)
    event_id = mentions(world)[-1].payload["event_id"]
    world.slack.wait_for(lambda: state_of(world, event_id) == "done", timeout=10)
    assert len(world.turns) == 1
    assert len(bot_replies(world, ts)) == 1


def test_event_of_a_dead_replica_is_replayed_and_counted(tmp_path: Path) -> None:
    with inbox_world(tmp_path, "sqlite") as w:
        metrics = Metrics(w.oh, replica="replica-a", cache_seconds=0)  # every render reads anew
        metrics.watch_inbox(w.inbox)
        w.slack.bot_url = None  # a replica that stores and acks, then dies before Bolt runs
        ts = w.slack.send_message(ANA, "ops", f"<@{w.slack.bot_user_id}> {QUESTION}")
        w.slack.bot_url = w.http.url
        # What the dead replica stored two minutes ago, with its lease long run out.
        envelope = {
            "type": "event_callback",
            "team_id": w.slack.team_id,
            "event_id": "Ev0DEADREPL1",
            "event": {
                "type": "app_mention",
                "user": ANA,
                "text": f"<@{w.slack.bot_user_id}> {QUESTION}",
                "ts": ts,
                "channel": w.slack.channel_id("ops"),
                "event_ts": ts,
            },
        }
        dead = Inbox(
            w.oh.engine,
            w.inbox.bolt,
            signing_secret=SIGNING_SECRET,
            owner="replica-dead",
            lease=w.inbox.lease,
            max_attempts=3,
            now=lambda: utcnow() - w.inbox.lease * 2,
        )
        assert dead.accept(json.dumps(envelope), envelope) is not None
        hopeless = dict(envelope, event_id="Ev0DEADREPL2")
        assert dead.accept(json.dumps(hopeless), hopeless) is not None
        with w.oh.engine.begin() as conn:
            conn.execute(
                update(inbox_table)
                .where(inbox_table.c.event_id == "Ev0DEADREPL2")
                .values(attempts=3, last_error="RuntimeError")
            )
        before = metrics.render().decode()
        assert gauge(before, "opshand_inbox_pending") == 2.0
        assert gauge(before, "opshand_inbox_oldest_pending_seconds") >= 100
        assert gauge(before, "opshand_inbox_dead") == 0.0
        assert w.inbox.sweep() == 1
        wait_answer(w, ts)
        w.slack.wait_for(lambda: state_of(w, "Ev0DEADREPL1") == "done", timeout=10)
        after = metrics.render().decode()
        assert gauge(after, "opshand_inbox_pending") == 0.0
        assert gauge(after, "opshand_inbox_dead") == 1.0
        assert gauge(after, "opshand_inbox_replays_total") == 1.0
        assert len(w.turns) == 1
