"""Tests for agent.audit.log's deferred linking: appends are buffered and chained at commit.

Each test runs on SQLite and, with ``OPSHAND_TEST_POSTGRES_URL`` set, on PostgreSQL (the shared
``engine`` fixture); the interleaving test needs two open writers, so it is PostgreSQL only.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from agent.audit import (
    GENESIS_HASH,
    AppendedRow,
    AuditLog,
    AuditRow,
    FileCheckpoint,
    Redactor,
    audit_table,
    row_from_db,
    select_rows,
)

SECRET = "hunter2-deferred-canary"


@pytest.fixture
def log(engine: sa.Engine, tmp_path: Path) -> AuditLog:
    return AuditLog(
        engine,
        Redactor([SecretStr(SECRET)]),
        FileCheckpoint(tmp_path / "audit.jsonl"),
        checkpoint_every=0,
    )


@pytest.fixture
def state(engine: sa.Engine) -> sa.Table:
    table = sa.Table(
        "audit_deferred_state",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.String(40)),
    )
    table.create(engine)
    return table


def _stored(engine: sa.Engine) -> list[AuditRow]:
    # Decoded like the log decodes them (SQLite hands timestamps back naive).
    with engine.connect() as conn:
        return [row_from_db(r) for r in conn.execute(select_rows().order_by(audit_table.c.seq))]


def _kinds(engine: sa.Engine) -> list[str]:
    return [r.kind for r in _stored(engine)]


def _short_lock_wait(conn: sa.Connection) -> None:
    # If the append lock were still taken at the call, the interleaved appends below would
    # wait on each other forever; fail fast instead.
    conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")


def test_appends_in_one_transaction_get_consecutive_seqs_in_call_order(
    log: AuditLog, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        first = log.append(conn, kind="change.proposed", actor="system", body={"n": 0})
    with engine.begin() as conn:
        handles = [
            log.append(conn, kind=f"step.s{i}", actor="system", body={"n": i}) for i in (1, 2, 3)
        ]
        assert [h.state for h in handles] == ["pending"] * 3
    assert [h.seq for h in handles] == [2, 3, 4]
    rows = _stored(engine)
    assert [r.kind for r in rows] == ["change.proposed", "step.s1", "step.s2", "step.s3"]
    assert rows[0] == first and rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
        assert after.at >= before.at
    assert [h.row for h in handles] == rows[1:]
    assert log.verify().ok


def test_rollback_drops_buffered_rows(log: AuditLog, engine: sa.Engine, state: sa.Table) -> None:
    with pytest.raises(RuntimeError, match="crashed"), engine.begin() as conn:
        conn.execute(state.insert().values(id=1, note="moved"))
        dropped = [
            log.append(conn, kind="change.executing", actor="system", body={"i": i})
            for i in range(2)
        ]
        raise RuntimeError("crashed")
    assert [h.state for h in dropped] == ["dropped", "dropped"]
    with pytest.raises(RuntimeError, match="rolled back"):
        _ = dropped[0].seq
    assert _stored(engine) == []
    # A connection closed without committing rolls back too.
    with engine.connect() as conn:
        conn.execute(state.insert().values(id=2, note="abandoned"))
        abandoned = log.append(conn, kind="change.executing", actor="system", body={})
    assert abandoned.state == "dropped"
    assert _stored(engine) == []
    with engine.begin() as conn:
        kept = log.append(conn, kind="change.reconciled", actor="system", body={})
    assert kept.seq == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(state.c.id)).scalars().all() == []
    assert log.verify().ok


def test_validation_error_raises_at_the_call_and_leaves_no_row(
    log: AuditLog, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        good = log.append(conn, kind="change.proposed", actor="system", body={"ok": True})
        with pytest.raises(ValueError, match="kind 'Bad Kind'"):
            log.append(conn, kind="Bad Kind", actor="system", body={})
        with pytest.raises(ValueError, match=r"body\.x is nan") as bad:
            log.append(conn, kind="change.proposed", actor=f"x{SECRET}", body={"x": float("nan")})
        with pytest.raises(ValueError, match="actor must be a non-empty string"):
            log.append(conn, kind="change.proposed", actor=f" {SECRET}", body={})
        # Before the commit the row has no place in the chain yet.
        with pytest.raises(RuntimeError, match="when its transaction commits"):
            _ = good.seq
    assert SECRET not in str(bad.value)
    assert [(r.seq, r.kind) for r in _stored(engine)] == [(1, "change.proposed")]
    assert good.seq == 1 and good.row.body == {"ok": True}


def test_rolled_back_savepoint_drops_only_its_rows(log: AuditLog, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        log.append(conn, kind="step.before", actor="system", body={})
        with pytest.raises(RuntimeError), conn.begin_nested():
            inner = log.append(conn, kind="step.undone", actor="system", body={})
            raise RuntimeError("savepoint rolled back")
        log.append(conn, kind="step.between", actor="system", body={})
        with conn.begin_nested():
            log.append(conn, kind="step.released", actor="system", body={})
            with pytest.raises(RuntimeError), conn.begin_nested():
                log.append(conn, kind="step.inner_undone", actor="system", body={})
                raise RuntimeError("inner savepoint rolled back")
        log.append(conn, kind="step.after", actor="system", body={})
    assert inner.state == "dropped"
    assert _kinds(engine) == ["step.before", "step.between", "step.released", "step.after"]
    assert log.verify().ok


def test_flush_links_rows_before_commit_and_later_appends_follow(
    log: AuditLog, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        early = log.append(conn, kind="step.early", actor="system", body={})
        log.flush(conn)
        assert early.seq == 1
        assert log.head(conn) == early  # read back on the caller's connection
        late = log.append(conn, kind="step.late", actor="system", body={})
        assert late.state == "pending"
    assert (late.seq, late.prev_hash) == (2, early.hash)
    assert log.verify().ok


def test_commit_as_you_go_connection_links_on_commit(log: AuditLog, engine: sa.Engine) -> None:
    with engine.connect() as conn:
        row = log.append(conn, kind="step.one", actor="system", body={})
        assert conn.in_transaction()
        conn.commit()
        assert row.seq == 1
        log.append(conn, kind="step.two", actor="system", body={})
        conn.commit()
    assert _kinds(engine) == ["step.one", "step.two"]
    assert log.verify().ok


def test_checkpoint_counts_every_linked_row(engine: sa.Engine, tmp_path: Path) -> None:
    checkpoint = FileCheckpoint(tmp_path / "cp.jsonl")
    log = AuditLog(engine, Redactor(), checkpoint, checkpoint_every=3)
    with engine.begin() as conn:
        for i in range(3):
            log.append(conn, kind="step.batch", actor="system", body={"i": i})
    assert checkpoint.entries() == []
    # The next commit sees three rows since the last checkpoint and records the committed head.
    with engine.begin() as conn:
        log.append(conn, kind="step.next", actor="system", body={})
    assert [e.seq for e in checkpoint.entries()] == [3]
    result = log.verify()
    assert result.ok and result.checkpoints_checked == 1


@pytest.mark.postgres
def test_concurrent_transactions_interleave_appends_on_postgres(
    log: AuditLog, engine: sa.Engine, state: sa.Table
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("two open writers need PostgreSQL (SQLite serialises transactions)")
    a, b = engine.connect(), engine.connect()
    try:
        a.begin()
        b.begin()
        _short_lock_wait(a)
        _short_lock_wait(b)
        a.execute(state.insert().values(id=1, note="a"))
        a1 = log.append(a, kind="txn.a", actor="system:a", body={"i": 1})
        b.execute(state.insert().values(id=2, note="b"))
        b1 = log.append(b, kind="txn.b", actor="system:b", body={"i": 1})
        a2 = log.append(a, kind="txn.a", actor="system:a", body={"i": 2})
        b2 = log.append(b, kind="txn.b", actor="system:b", body={"i": 2})
        # Neither open transaction holds the append lock: a third session can take it. Other
        # xdist workers share the database and take the same lock for their own moments, so
        # the probe tries for a while; held by ``a`` or ``b`` it would never succeed here.
        key = sa.text("SELECT pg_try_advisory_xact_lock(:k)")
        took = False
        for _ in range(100):
            with engine.begin() as probe:
                took = bool(probe.execute(key, {"k": _lock_key()}).scalar_one())
            if took:
                break
            time.sleep(0.02)
        assert took
        b.commit()
        a.commit()
    finally:
        a.close()
        b.close()
    assert [(h.seq, h.row.kind) for h in (b1, b2, a1, a2)] == [
        (1, "txn.b"),
        (2, "txn.b"),
        (3, "txn.a"),
        (4, "txn.a"),
    ]
    assert [r.body["i"] for r in _stored(engine)] == [1, 2, 1, 2]
    result = log.verify()
    assert result.ok, result.detail
    assert result.rows_checked == 4


def _lock_key() -> int:
    from agent.audit import linking

    return linking.LOCK_KEY


def test_appended_row_compares_with_its_stored_row(log: AuditLog, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        handle = log.append(conn, kind="step.one", actor="system", body={"k": "v"})
    assert isinstance(handle, AppendedRow)
    [stored] = _stored(engine)
    assert handle == stored and stored == handle
    assert handle.content.body == {"k": "v"}
    assert handle.row.to_json() == stored.to_json()
