"""Tests for agent.audit.log: the hash chain, tamper detection (RELIABILITY F1-F5), concurrency.

Every chain test runs on SQLite and, when ``OPSHAND_TEST_POSTGRES_URL`` is set, on PostgreSQL in
a schema of its own. With ``CI=true`` a missing or unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import OperationalError

from agent.audit import (
    GENESIS_HASH,
    REDACTED,
    AuditLog,
    AuditRow,
    CheckpointEntry,
    FileCheckpoint,
    Redactor,
    audit_table,
    compute_hash,
)
from twin.db import make_engine, metadata

PG_ENV = "OPSHAND_TEST_POSTGRES_URL"
REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-5b1f0e7d-audit"


@dataclass
class Db:
    engine: sa.Engine
    url: str
    schema: str | None = None
    connect_args: dict[str, Any] = field(default_factory=dict)


def _postgres_url() -> str:
    """The test database URL; skip without one, but fail under CI=true."""
    url = os.environ.get(PG_ENV, "")
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not url:
        if in_ci:
            pytest.fail(f"{PG_ENV} is not set but CI=true: the PostgreSQL audit tests must run")
        pytest.skip(f"{PG_ENV} is not set")
    probe = make_engine(url)
    try:
        with probe.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except OperationalError as exc:
        if in_ci:
            pytest.fail(f"PostgreSQL at {PG_ENV} is unreachable under CI=true: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ENV} is unreachable")
    finally:
        probe.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        engine = make_engine(url)
        metadata.create_all(engine, tables=[audit_table])
        yield Db(engine=engine, url=url)
        engine.dispose()
        return
    url = _postgres_url()
    # A schema of our own: other tests share the database, and we drop only what we made.
    schema = f"audit_test_{uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    connect_args = {"options": f"-csearch_path={schema}"}
    engine = make_engine(url, connect_args=connect_args)
    try:
        metadata.create_all(engine, tables=[audit_table])
        yield Db(engine=engine, url=url, schema=schema, connect_args=connect_args)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db: Db) -> sa.Engine:
    return db.engine


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([SecretStr(CANARY)])


@pytest.fixture
def checkpoint(tmp_path: Path) -> FileCheckpoint:
    return FileCheckpoint(tmp_path / "checkpoints" / "audit.jsonl")


@pytest.fixture
def log(engine: sa.Engine, redactor: Redactor, checkpoint: FileCheckpoint) -> AuditLog:
    # A small page size so every chain test also crosses page boundaries.
    return AuditLog(engine, redactor, checkpoint, checkpoint_every=0, page_size=3)


def _fill(log: AuditLog, engine: sa.Engine, n: int, kind: str = "change.proposed") -> None:
    for i in range(n):
        with engine.begin() as conn:
            log.append(conn, kind=kind, actor="slack:T1:U1", body={"i": i}, change_id=f"CR-{i % 3}")


def _tamper(engine: sa.Engine, *stmts: sa.Executable) -> None:
    with engine.begin() as conn:
        for stmt in stmts:
            conn.execute(stmt)


def _rows(engine: sa.Engine) -> list[AuditRow]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_table).order_by(audit_table.c.seq)).mappings().all()
    return [AuditRow.model_validate(dict(r)) for r in rows]


# -- the chain ------------------------------------------------------------------------------


def test_append_links_rows_into_one_chain(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 7)
    rows = _rows(engine)
    assert [r.seq for r in rows] == list(range(1, 8))
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
        assert after.at >= before.at
    assert all(compute_hash(r) == r.hash for r in rows)
    result = log.verify()
    assert result.ok, result.detail
    assert (result.rows_checked, result.head_seq) == (7, 7)


def test_verify_empty_log(log: AuditLog) -> None:
    result = log.verify()
    assert result.ok
    assert (result.rows_checked, result.head_seq, result.first_bad_seq) == (0, 0, None)
    assert log.head() is None
    assert log.checkpoint() is None


def test_append_rolls_back_with_callers_transaction(log: AuditLog, engine: sa.Engine) -> None:
    state = sa.Table(
        "audit_test_state", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)
    )
    state.create(engine)
    with pytest.raises(RuntimeError, match="executor crashed"), engine.begin() as conn:
        conn.execute(state.insert().values(id=1))
        log.append(conn, kind="change.approved", actor="system", body={"x": 1})
        raise RuntimeError("executor crashed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(state)).scalar_one() == 0
    assert log.head() is None
    with engine.begin() as conn:
        conn.execute(state.insert().values(id=2))
        row = log.append(conn, kind="change.approved", actor="system", body={"x": 2})
    assert row.seq == 1
    assert log.verify().ok


def test_append_rejects_bad_input_with_clear_errors(log: AuditLog, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="kind 'Change Proposed'"):
            log.append(conn, kind="Change Proposed", actor="system", body={})
        with pytest.raises(ValueError, match="actor must be a non-empty string"):
            log.append(conn, kind="change.proposed", actor="", body={})
        with pytest.raises(ValueError, match="body must be a mapping"):
            log.append(conn, kind="change.proposed", actor="system", body=["x"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"body\.score is nan"):
            log.append(conn, kind="change.proposed", actor="system", body={"score": float("nan")})
        with pytest.raises(ValueError, match="the limit is"):
            log.append(conn, kind="change.proposed", actor="system", body={"x": "y" * 300_000})
    assert log.head() is None


def test_query_and_export_for_a_siem(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 5)
    _fill(log, engine, 2, kind="consent.vote")
    assert [r.seq for r in log.query(kind="consent.vote")] == [6, 7]
    assert [r.seq for r in log.query(kind="change.*", change_id="CR-1")] == [2, 5]
    assert [r.seq for r in log.query(limit=2, newest_first=True)] == [7, 6]
    third = log.query()[2]
    later = log.query(since=third.at)
    assert 3 in [r.seq for r in later]
    assert all(r.at >= third.at for r in later)
    assert log.query(until=log.query()[0].at) == []
    with pytest.raises(ValueError, match="limit must be between"):
        log.query(limit=0)
    out = io.StringIO()
    assert log.export_jsonl(out) == 7
    lines = [AuditRow.model_validate(json.loads(line)) for line in out.getvalue().splitlines()]
    # A SIEM re-verifies the export on its own: links and hashes.
    prev = GENESIS_HASH
    for row in lines:
        assert row.prev_hash == prev
        assert compute_hash(row) == row.hash
        prev = row.hash
    tail = io.StringIO()
    assert log.export_jsonl(tail, after_seq=5) == 2


# -- RELIABILITY F1-F5 --------------------------------------------------------------------


def test_f1_edited_body_names_first_bad_row(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 10)
    t = audit_table
    _tamper(engine, t.update().where(t.c.seq == 4).values(body={"i": 999}))
    _tamper(engine, t.update().where(t.c.seq == 8).values(actor="slack:T1:U2"))
    result = log.verify()
    assert not result.ok
    assert (result.first_bad_seq, result.problem) == (4, "hash_mismatch")
    assert result.rows_checked == 3
    assert "row 4" in result.detail


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("at", datetime(2020, 1, 1, tzinfo=UTC), "hash_mismatch"),
        ("kind", "change.denied", "hash_mismatch"),
        ("actor", "slack:T1:U9", "hash_mismatch"),
        ("change_id", "CR-forged", "hash_mismatch"),
        ("plan_hash", "f" * 64, "hash_mismatch"),
        ("body", {"i": 2, "extra": True}, "hash_mismatch"),
        ("prev_hash", "0" * 64, "prev_link_broken"),
        ("hash", "0" * 64, "hash_mismatch"),
    ],
)
def test_f1_every_column_is_covered_by_the_hash(
    log: AuditLog, engine: sa.Engine, column: str, value: Any, problem: str
) -> None:
    _fill(log, engine, 5)
    t = audit_table
    _tamper(engine, t.update().where(t.c.seq == 3).values({column: value}))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, problem)


def test_append_keeps_time_monotonic_under_clock_skew(
    log: AuditLog, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(log, engine, 1)
    first = log.head()
    assert first is not None
    monkeypatch.setattr("agent.audit.log.utcnow", lambda: first.at - timedelta(hours=1))
    with engine.begin() as conn:
        second = log.append(conn, kind="change.proposed", actor="system", body={})
        # Read on the caller's connection, the uncommitted row is already the head.
        assert log.head(conn) == second
    assert second.at == first.at
    assert log.verify().ok


def test_f1_body_that_is_not_json_is_reported(tmp_path: Path, redactor: Redactor) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'raw.db'}")
    metadata.create_all(engine, tables=[audit_table])
    log = AuditLog(engine, redactor, FileCheckpoint(tmp_path / "cp.jsonl"), page_size=2)
    _fill(log, engine, 4)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET body = '{not json' WHERE seq = 3")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "row_unreadable")
    engine.dispose()


def test_f2_deleted_middle_row_detected(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 8)
    t = audit_table
    _tamper(engine, t.delete().where(t.c.seq == 5))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 6, "seq_gap")
    # Renumbering the later rows to close the gap breaks the link instead.
    _tamper(engine, *[t.update().where(t.c.seq == s).values(seq=s - 1) for s in range(6, 9)])
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 5, "prev_link_broken")


def test_f2_reordered_rows_detected(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 6)
    t = audit_table
    _tamper(
        engine,
        t.update().where(t.c.seq == 3).values(seq=-3),
        t.update().where(t.c.seq == 4).values(seq=3),
        t.update().where(t.c.seq == -3).values(seq=4),
    )
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "prev_link_broken")


def test_f3_truncated_tail_detected_against_checkpoint(log: AuditLog, engine: sa.Engine) -> None:
    _fill(log, engine, 10)
    entry = log.checkpoint()
    assert entry is not None and entry.seq == 10
    _tamper(engine, audit_table.delete().where(audit_table.c.seq > 7))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 8, "behind_checkpoint")
    assert result.head_seq == 7
    assert "seq 10" in result.detail
    # Emptying the table is the limit case of truncation.
    _tamper(engine, audit_table.delete())
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 1, "behind_checkpoint")


def test_f4_consistent_rewrite_detected_against_checkpoint(
    log: AuditLog, engine: sa.Engine, redactor: Redactor, tmp_path: Path
) -> None:
    _fill(log, engine, 6)
    log.checkpoint()
    _fill(log, engine, 4)
    log.checkpoint()
    # The attacker knows the algorithm: edit row 3 and re-hash everything after it.
    prev = None
    stmts: list[sa.Executable] = []
    for row in _rows(engine):
        if row.seq < 3:
            prev = row.hash
            continue
        body = {"i": -1} if row.seq == 3 else row.body
        forged = row.model_copy(update={"body": body, "prev_hash": prev, "hash": ""})
        forged = forged.model_copy(update={"hash": compute_hash(forged)})
        prev = forged.hash
        stmts.append(
            audit_table.update()
            .where(audit_table.c.seq == row.seq)
            .values(body=forged.body, prev_hash=forged.prev_hash, hash=forged.hash)
        )
    _tamper(engine, *stmts)
    # Without a checkpoint the forgery is a valid chain...
    blind = AuditLog(engine, redactor, FileCheckpoint(tmp_path / "none.jsonl"))
    assert blind.verify().ok
    # ...with one, the first checkpointed seq after the edit gives it away.
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 6, "checkpoint_mismatch")


def test_f5_canary_secret_never_in_rows(
    log: AuditLog, engine: sa.Engine, checkpoint: FileCheckpoint
) -> None:
    class Call(BaseModel):
        url: str
        api_key: SecretStr

    bodies: list[dict[str, Any]] = [
        {"what": f"rotate using {CANARY}", "nested": {"deeper": [{"v": CANARY}]}},
        {CANARY: "secret as a key", "list": [CANARY, (CANARY,)]},
        {"headers": {"Authorization": f"Bearer {CANARY}"}, "password": "anything-at-all"},
        {"url": f"https://svc:{CANARY}@vendor.example/api", "q": f"?token={CANARY}"},
        {"call": Call(url="https://vendor.example", api_key=SecretStr(CANARY))},
        {"encoded": json.dumps({"inner": CANARY}), "set": {CANARY}},
    ]
    with engine.begin() as conn:
        for body in bodies:
            log.append(
                conn,
                kind="integration.call",
                actor=f"slack:T1:{CANARY}",
                body=body,
                change_id=f"CR-{CANARY}"[:64],
            )
    log.checkpoint()
    with engine.connect() as conn:
        raw = conn.execute(sa.select(*[sa.cast(c, sa.Text) for c in audit_table.c])).all()
    assert len(raw) == len(bodies)
    for raw_row in raw:
        for text in raw_row:
            assert text is None or CANARY not in text
    for row in _rows(engine):
        assert CANARY not in json.dumps(row.body, ensure_ascii=False)
        assert REDACTED in json.dumps(row.body, ensure_ascii=False)
    out = io.StringIO()
    log.export_jsonl(out)
    assert CANARY not in out.getvalue()
    assert CANARY not in checkpoint.path.read_text()
    assert log.verify().ok


def test_f5_error_messages_never_carry_the_canary(log: AuditLog, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError) as bad_actor:
            log.append(conn, kind="change.proposed", actor=f" {CANARY}", body={})
        with pytest.raises(ValueError) as bad_body:
            log.append(conn, kind="change.proposed", actor="system", body={CANARY: math.inf})
        with pytest.raises(ValueError) as long_id:
            log.append(
                conn, kind="change.proposed", actor="system", body={}, change_id=CANARY + "x" * 60
            )
    for exc in (bad_actor, bad_body, long_id):
        assert CANARY not in str(exc.value)
    assert "body.«redacted» is inf" in str(bad_body.value)


# -- checkpoints --------------------------------------------------------------------------


def test_auto_checkpoint_never_records_uncommitted_rows(
    engine: sa.Engine, redactor: Redactor, checkpoint: FileCheckpoint
) -> None:
    log = AuditLog(engine, redactor, checkpoint, checkpoint_every=1, page_size=2)
    for round_ in range(4):
        with pytest.raises(RuntimeError), engine.begin() as conn:
            for i in range(3):
                log.append(conn, kind="change.proposed", actor="system", body={"r": round_, "i": i})
            raise RuntimeError("rolled back")
        _fill(log, engine, 2)
    entries = checkpoint.entries()
    assert entries, "checkpoint_every=1 should have recorded heads"
    head = log.head()
    assert head is not None and max(e.seq for e in entries) <= head.seq
    result = log.verify()
    assert result.ok, result.detail
    assert result.checkpoints_checked == len(entries)


def test_damaged_checkpoint_file_fails_verify(
    log: AuditLog, engine: sa.Engine, checkpoint: FileCheckpoint
) -> None:
    _fill(log, engine, 3)
    log.checkpoint()
    with checkpoint.path.open("a") as fp:
        fp.write("{half a line\n")
    result = log.verify()
    assert (result.ok, result.problem) == (False, "checkpoint_unreadable")
    assert "audit.jsonl:2" in result.detail


def test_checkpoint_with_wrong_hash_is_a_rewrite(
    log: AuditLog, engine: sa.Engine, checkpoint: FileCheckpoint
) -> None:
    _fill(log, engine, 3)
    head = log.head()
    assert head is not None
    checkpoint.record(CheckpointEntry(seq=2, hash="0" * 64, at=head.at))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 2, "checkpoint_mismatch")


# -- concurrency --------------------------------------------------------------------------


def test_concurrent_appends_from_threads_keep_one_chain(
    engine: sa.Engine, redactor: Redactor, checkpoint: FileCheckpoint
) -> None:
    log = AuditLog(engine, redactor, checkpoint, checkpoint_every=7, page_size=50)
    threads, per_thread = 8, 20
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with engine.begin() as conn:
                    log.append(conn, kind="test.thread", actor=f"system:{n}", body={"i": i})
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    result = log.verify()
    assert result.ok, result.detail
    assert result.rows_checked == threads * per_thread
    assert result.checkpoints_checked > 0


_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from agent.audit import AuditLog, FileCheckpoint
from agent.audit.redact import Redactor
from twin.db import make_engine

url, schema, cp, n, who = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
kwargs = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
engine = make_engine(url, **kwargs)
log = AuditLog(engine, Redactor(), FileCheckpoint(cp), checkpoint_every=5)
for i in range(n):
    with engine.begin() as conn:
        log.append(conn, kind="test.process", actor="system:" + who, body={"i": i})
engine.dispose()
"""


def test_concurrent_appends_from_processes_keep_one_chain(
    db: Db, redactor: Redactor, checkpoint: FileCheckpoint
) -> None:
    processes, per_process = 4, 25
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(REPO),
                db.url,
                db.schema or "",
                str(checkpoint.path),
                str(per_process),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    # Collect every child before asserting, so a failure leaves no pipe open.
    outcomes = [(child.communicate(timeout=120)[1], child.wait()) for child in children]
    for err, code in outcomes:
        assert code == 0, err
    log = AuditLog(db.engine, redactor, checkpoint, page_size=16)
    result = log.verify()
    assert result.ok, result.detail
    assert result.rows_checked == processes * per_process
    assert result.checkpoints_checked > 0
    actors = {r.actor for r in log.query(limit=1000)}
    assert actors == {f"system:{n}" for n in range(processes)}
