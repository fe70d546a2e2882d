"""The inbox's group-commit writer (bot.ingress.inbox_writer) on SQLite and PostgreSQL.

A caller is released only once its row is committed; rows commit in the order they came; a
failed transaction fails every caller in it and the writer carries on; close() drains the
queue; an event id already stored, or twice in one batch, is reported as a duplicate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from bot.ingress.inbox_writer import GroupWriter, InboxUnavailable, insert_rows
from bot.tables import inbox_table
from twin.model import utcnow


def new_row(event_id: str | None = None) -> dict[str, Any]:
    at = utcnow()
    return {
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:12].upper(),
        "team_id": "T0LOCAL01",
        "event_type": "app_mention",
        "received_at": at,
        "body": '{"type":"event_callback"}',
        "state": "pending",
        "attempts": 1,
        "owner": "replica-a",
        "lease_until": at,
    }


def stored_ids(engine: Engine) -> set[str]:
    """What another connection sees committed.

    A plain DBAPI query: opshand's SQLite transactions all begin IMMEDIATE, so one through
    SQLAlchemy would wait for the writer's lock instead of reading past it.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT event_id FROM slack_inbox")
        return {str(r[0]) for r in cur.fetchall()}
    finally:
        raw.close()


class Gate:
    """An insert that stalls inside its transaction until released (after the rows are
    written, before the commit), so tests can queue rows behind it and look meanwhile."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[list[str]] = []

    def __call__(self, conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
        self.calls.append([r["event_id"] for r in rows])
        got = insert_rows(conn, rows)
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10), "the test never released the first batch"
        return got


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


def test_caller_is_released_only_after_its_row_is_committed(engine: Engine, gate: Gate) -> None:
    writer = GroupWriter(engine, insert=gate)
    row = new_row()
    done = writer.submit(row)
    assert gate.entered.wait(10)
    time.sleep(0.2)
    # Inserted but not committed: the caller still waits, and nobody else sees the row.
    assert not done.done()
    assert row["event_id"] not in stored_ids(engine)
    gate.release.set()
    assert done.result(timeout=10) is True
    assert row["event_id"] in stored_ids(engine)
    writer.close()


def test_every_released_caller_finds_its_row_and_all_earlier_ones_committed(
    engine: Engine,
) -> None:
    writer = GroupWriter(engine, max_batch=4)
    rows = [new_row() for _ in range(30)]
    released: list[str] = []
    problems: list[str] = []

    def check(i: int) -> Any:
        def on_done(fut: Future[bool]) -> None:
            # Runs as the caller is released: this row and every earlier one are visible.
            missing = {r["event_id"] for r in rows[: i + 1]} - stored_ids(engine)
            if missing or fut.result() is not True:
                problems.append(f"row {i}: missing {sorted(missing)}")
            released.append(rows[i]["event_id"])

        return on_done

    futures = []
    for i, row in enumerate(rows):
        fut = writer.submit(row)
        fut.add_done_callback(check(i))
        futures.append(fut)
    for fut in futures:
        fut.result(timeout=20)
    writer.close()
    assert problems == []
    assert released == [r["event_id"] for r in rows]
    assert writer.batches >= len(rows) / 4


def test_rows_queued_during_a_commit_share_the_next_transaction(engine: Engine, gate: Gate) -> None:
    writer = GroupWriter(engine, insert=gate)
    first = writer.submit(new_row())
    assert gate.entered.wait(10)
    burst = [new_row() for _ in range(30)]
    futures = [writer.submit(r) for r in burst]
    gate.release.set()
    assert first.result(timeout=10) is True
    assert [f.result(timeout=10) for f in futures] == [True] * 30
    writer.close()
    assert gate.calls[1] == [r["event_id"] for r in burst]  # in order, one transaction
    assert writer.batches == 2


def test_a_failed_transaction_fails_every_caller_in_it_and_the_writer_carries_on(
    engine: Engine, gate: Gate
) -> None:
    writer = GroupWriter(engine, insert=gate)
    first = writer.submit(new_row())
    assert gate.entered.wait(10)
    bad = new_row()
    bad["body"] = None  # NOT NULL: the whole batch's insert fails
    good = new_row()
    in_failed_batch = [writer.submit(bad), writer.submit(good)]
    gate.release.set()
    assert first.result(timeout=10) is True
    for fut in in_failed_batch:
        with pytest.raises(InboxUnavailable) as info:
            fut.result(timeout=10)
        assert info.value.__cause__ is not None  # the driver's error, for the logs
    assert good["event_id"] not in stored_ids(engine)  # rolled back with its batch
    # The next batch goes through: the writer thread survived.
    assert writer.submit(good).result(timeout=10) is True
    writer.close()
    assert good["event_id"] in stored_ids(engine)


def test_database_gone_reaches_the_caller_as_inbox_unavailable(engine: Engine) -> None:
    writer = GroupWriter(engine)
    inbox_table.drop(engine)
    with pytest.raises(InboxUnavailable):
        writer.submit(new_row()).result(timeout=10)
    inbox_table.create(engine)
    assert writer.submit(new_row()).result(timeout=10) is True
    writer.close()


def test_close_drains_what_was_submitted_then_refuses_more(engine: Engine, gate: Gate) -> None:
    writer = GroupWriter(engine, insert=gate)
    first = writer.submit(new_row())
    assert gate.entered.wait(10)
    queued = [new_row() for _ in range(20)]
    futures = [writer.submit(r) for r in queued]
    closer = threading.Thread(target=writer.close)
    closer.start()
    time.sleep(0.1)
    with pytest.raises(InboxUnavailable):
        writer.submit(new_row())
    gate.release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert first.done()
    assert all(f.done() and f.result() is True for f in futures)
    assert {r["event_id"] for r in queued} <= stored_ids(engine)
    writer.close()  # idempotent


def test_retries_of_a_stored_event_and_twins_in_one_batch_are_duplicates(
    engine: Engine, gate: Gate
) -> None:
    writer = GroupWriter(engine)
    assert writer.submit(new_row("EvRETRIED0001")).result(timeout=10) is True
    assert writer.submit(new_row("EvRETRIED0001")).result(timeout=10) is False
    # An event and its retry racing each other into the same transaction: the first wins.
    stall = GroupWriter(engine, insert=gate)
    blocker = stall.submit(new_row())
    assert gate.entered.wait(10)
    twins = [stall.submit(new_row("EvTWIN000001")), stall.submit(new_row("EvTWIN000001"))]
    gate.release.set()
    assert blocker.result(timeout=10) is True
    assert [f.result(timeout=10) for f in twins] == [True, False]
    writer.close()
    stall.close()
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(inbox_table)
            .where(inbox_table.c.event_id.in_(["EvRETRIED0001", "EvTWIN000001"]))
        ).scalar_one()
    assert count == 2
