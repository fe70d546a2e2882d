"""An event replayed by the durable inbox is answered once: answers carry Slack message metadata.

Through the real stack (``tests.bot.world``: local Slack, bot.ingress.http, bot.ingress.inbox, the
production
Bolt app). A replica that died after posting its answer but before marking the event done is
simulated by resetting the event's inbox row to ``pending`` under another owner with an expired
lease; a second replica's inbox then sweeps and replays it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, update

from agent.audit import Redactor
from agent.chat import AgentReply
from bot.app import build_app
from bot.ingress import Inbox
from bot.listeners._shared import ANSWER_EVENT_TYPE, SlackOut, answer_metadata
from bot.localslack import LocalSlack
from bot.tables import inbox_table
from tests.bot.world import ANA, BOT_TOKEN, SIGNING_SECRET, World, slack_world, texts
from twin.model import utcnow

QUESTION = "what depends on contoso-erp-db?"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path, request.param) as w:
        yield w


class Turns:
    """Counts agent turns (a replay that answers again runs the agent again)."""

    def __init__(self, w: World) -> None:
        self.texts: list[str] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self._real = w.oh.agent.ask
        w.oh.agent.ask = self  # type: ignore[method-assign]

    def __call__(self, text: str, **kw: Any) -> AgentReply:
        with self._lock:
            self.texts.append(text)
            failing = self.fail_next > 0
            self.fail_next -= failing
        if failing:
            raise RuntimeError("the model provider dropped the connection")
        return self._real(text, **kw)


def second_replica(w: World) -> Inbox:
    """Another replica's inbox and Bolt app, sharing the database and the Slack workspace.

    A real second replica has its own opshand; here it shares ours, so the change-event
    subscribers its ``build_app`` adds (cards, results) are dropped to avoid posting twice.
    """
    before = list(w.oh.ops.subscribers)
    bolt = build_app(w.oh, client=WebClient(token=BOT_TOKEN, base_url=w.slack.api_url))
    w.oh.ops.subscribers[:] = before
    return Inbox(
        w.oh.engine,
        bolt,
        signing_secret=SIGNING_SECRET,
        owner="replica-b",
        lease=timedelta(seconds=60),
        max_attempts=5,
    )


def row(w: World, event_id: str) -> Any:
    with w.oh.engine.connect() as conn:
        return conn.execute(select(inbox_table).where(inbox_table.c.event_id == event_id)).one()


def wait_done(w: World, event_id: str) -> Any:
    return w.slack.wait_for(lambda: (r := row(w, event_id)).state == "done" and r, timeout=20)


def orphan(w: World, event_id: str) -> None:
    """Leave the row as a replica that died holding it would: pending, lease run out."""
    with w.oh.engine.begin() as conn:
        conn.execute(
            update(inbox_table)
            .where(inbox_table.c.event_id == event_id)
            .values(
                state="pending",
                done_at=None,
                owner="replica-dead",
                lease_until=utcnow() - timedelta(minutes=1),
            )
        )


def mention_event_id(w: World, ts: str) -> str:
    for attempt in w.slack.deliveries():
        event = attempt.payload.get("event") or {}
        if event.get("type") == "app_mention" and event.get("ts") == ts:
            return str(attempt.payload["event_id"])
    raise AssertionError(f"no app_mention delivered for {ts}")


def bot_replies(w: World, ts: str) -> list[dict[str, Any]]:
    return [m for m in w.slack.messages("ops", thread_ts=ts) if m.get("bot_id")]


def ask(w: World) -> tuple[str, str]:
    """Mention the bot in #ops; returns the mention's ts and its event id."""
    ts = w.slack.send_message(ANA, "ops", f"<@{w.bot}> {QUESTION}")
    return ts, mention_event_id(w, ts)


def wait_answers(w: World, ts: str, count: int) -> list[dict[str, Any]]:
    w.slack.wait_for(lambda: len(bot_replies(w, ts)) >= count, timeout=20)
    return bot_replies(w, ts)


def test_answer_carries_its_event_id_as_metadata_visible_only_on_request(world: World) -> None:
    ts, event_id = ask(world)
    (answer,) = wait_answers(world, ts, 1)
    assert "contoso-erp-db" in texts([answer])
    wait_done(world, event_id)
    # the first delivery did not look for an earlier answer: no extra Slack call
    assert world.slack.calls("conversations.replies") == []

    client = WebClient(token=BOT_TOKEN, base_url=world.slack.api_url)
    channel = world.slack.channel_id("ops")
    full = client.conversations_replies(channel=channel, ts=ts, include_all_metadata=True)
    metas = [m.get("metadata") for m in full["messages"] if m.get("bot_id")]
    assert metas == [answer_metadata(event_id)]
    assert metas[0]["event_type"] == ANSWER_EVENT_TYPE
    plain = client.conversations_replies(channel=channel, ts=ts)
    assert [m["ts"] for m in plain["messages"]] == [m["ts"] for m in full["messages"]]
    assert not any("metadata" in m for m in plain["messages"])


def test_replay_after_the_answer_was_posted_is_not_answered_again(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    turns = Turns(world)
    ts, event_id = ask(world)
    wait_answers(world, ts, 1)
    wait_done(world, event_id)
    orphan(world, event_id)  # died after posting, before marking the row done

    replica = second_replica(world)
    with caplog.at_level(logging.INFO, logger="bot.listeners.middleware"):
        assert replica.sweep() == 1
        final = wait_done(world, event_id)
    assert final.attempts == 2 and final.owner == "replica-b"
    time.sleep(0.3)  # a second answer, if posted, would be in by now
    assert len(bot_replies(world, ts)) == 1
    assert turns.texts == [QUESTION]  # the agent did not run again either
    # the replay (and only it) looked in the thread, with metadata
    (lookup,) = world.slack.calls("conversations.replies")
    assert lookup.params["ts"] == ts
    assert str(lookup.params["include_all_metadata"]).lower() in ("1", "true")
    assert f"Slack event {event_id} (attempt 2) was answered before" in caplog.text


def test_replay_when_no_answer_was_posted_answers_once(world: World) -> None:
    turns = Turns(world)
    turns.fail_next = 1  # the first attempt dies before answering (the model call failed)
    ts, event_id = ask(world)
    world.slack.wait_for(lambda: row(world, event_id).last_error, timeout=20)
    assert row(world, event_id).state == "pending"
    assert bot_replies(world, ts) == []
    orphan(world, event_id)

    replica = second_replica(world)
    assert replica.sweep() == 1
    (answer,) = wait_answers(world, ts, 1)
    assert "contoso-erp-db" in texts([answer])
    assert wait_done(world, event_id).attempts == 2
    time.sleep(0.3)
    assert len(bot_replies(world, ts)) == 1
    assert turns.texts == [QUESTION, QUESTION]
    assert len(world.slack.calls("conversations.replies")) == 1
    # a later replay of the same event (e.g. this replica died too) finds this answer
    orphan(world, event_id)
    assert second_replica(world).sweep() == 1
    assert wait_done(world, event_id).attempts == 3
    time.sleep(0.3)
    assert len(bot_replies(world, ts)) == 1
    assert len(turns.texts) == 2


def test_answer_by_another_app_with_look_alike_metadata_does_not_count(world: World) -> None:
    turns = Turns(world)
    turns.fail_next = 1
    ts, event_id = ask(world)
    world.slack.wait_for(lambda: row(world, event_id).last_error, timeout=20)
    # someone else's message in the thread claims to be the answer
    world.slack.workspace.add_message(
        world.slack.channel_id("ops"),
        {
            "type": "message",
            "user": "U0LOCAL02",
            "bot_id": "B0OTHERAPP",
            "text": "pretend answer",
            "ts": world.slack.workspace.next_ts(),
            "thread_ts": ts,
            "metadata": answer_metadata(event_id),
        },
    )
    orphan(world, event_id)
    assert second_replica(world).sweep() == 1
    wait_done(world, event_id)
    assert "contoso-erp-db" in texts(bot_replies(world, ts))
    assert len(turns.texts) == 2


def test_replay_whose_thread_cannot_be_read_answers_and_warns(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    turns = Turns(world)
    turns.fail_next = 1
    ts, event_id = ask(world)
    world.slack.wait_for(lambda: row(world, event_id).last_error, timeout=20)
    # the mention was deleted: conversations.replies answers thread_not_found
    world.slack.workspace.delete_message(world.slack.channel_id("ops"), ts)
    orphan(world, event_id)
    with caplog.at_level(logging.WARNING, logger="bot.listeners.middleware"):
        assert second_replica(world).sweep() == 1
        wait_done(world, event_id)
    assert len(turns.texts) == 2
    assert f"could not look for an earlier answer to Slack event {event_id}" in caplog.text
    assert "thread_not_found" in caplog.text


def test_replay_whose_lookup_is_rate_limited_is_retried_later_not_answered(world: World) -> None:
    ts, event_id = ask(world)
    wait_answers(world, ts, 1)
    wait_done(world, event_id)
    orphan(world, event_id)
    # longer than the bot waits for a 429: the lookup fails, so the listener fails
    world.slack.rate_limit_next("conversations.replies", retry_after=120)
    assert second_replica(world).sweep() == 1
    world.slack.wait_for(lambda: row(world, event_id).last_error, timeout=20)
    r = row(world, event_id)
    assert (r.state, r.attempts) == ("pending", 2)
    assert len(bot_replies(world, ts)) == 1


def test_direct_message_replayed_after_its_answer_is_not_answered_again(world: World) -> None:
    turns = Turns(world)
    dm = world.slack.workspace.dm_channel(ANA).id
    ts = world.slack.send_message(ANA, dm, QUESTION)
    event_id = next(
        str(a.payload["event_id"])
        for a in world.slack.deliveries()
        if (a.payload.get("event") or {}).get("ts") == ts
    )
    answers = world.slack.wait_for(
        lambda: [m for m in world.slack.messages(dm, thread_ts=ts) if m.get("bot_id")],
        timeout=20,
    )
    assert answers[0]["metadata"] == answer_metadata(event_id)
    wait_done(world, event_id)
    orphan(world, event_id)
    assert second_replica(world).sweep() == 1
    assert wait_done(world, event_id).attempts == 2
    time.sleep(0.3)
    assert len([m for m in world.slack.messages(dm, thread_ts=ts) if m.get("bot_id")]) == 1
    assert turns.texts == [QUESTION]
    (lookup,) = world.slack.calls("conversations.replies")
    assert (lookup.params["channel"], lookup.params["ts"]) == (dm, ts)


def test_top_level_answer_is_found_in_the_channel_history() -> None:
    with LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN) as slack:
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
        out = SlackOut(oh=SimpleNamespace(redactor=Redactor()), client=client)  # type: ignore[arg-type]
        channel = slack.channel_id("ops")
        asked = slack.send_message(ANA, "ops", "status?")
        assert not out.answered(channel, "Ev0TOPLEVEL1", since=asked)
        out.post(channel, "all green", answering="Ev0TOPLEVEL1")
        assert out.answered(channel, "Ev0TOPLEVEL1", since=asked, bot_user_id=slack.bot_user_id)
        assert not out.answered(channel, "Ev0TOPLEVEL2", since=asked)
        assert not out.answered(channel, "Ev0TOPLEVEL1", since=asked, bot_user_id=ANA)
        # an answer from before the event does not count
        assert not out.answered(channel, "Ev0TOPLEVEL1", since=slack.workspace.next_ts())


def test_replayed_request_finds_its_change_instead_of_proposing_again(world: World) -> None:
    """Died after proposing but before answering: the replay answers with the same change."""
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> restart contoso-erp-app")
    event_id = mention_event_id(world, ts)
    first = wait_answers(world, ts, 1)
    wait_done(world, event_id)
    (change,) = world.oh.ops.journal.list(limit=10)
    # the answer never made it (the replica died before posting it)
    client = WebClient(token=BOT_TOKEN, base_url=world.slack.api_url)
    channel = world.slack.channel_id("ops")
    for m in first:
        client.chat_delete(channel=channel, ts=m["ts"])
    orphan(world, event_id)

    assert second_replica(world).sweep() == 1
    assert wait_done(world, event_id).attempts == 2
    answers = wait_answers(world, ts, 1)
    assert change.ref in texts(answers)
    assert [c.id for c in world.oh.ops.journal.list(limit=10)] == [change.id]
