"""A SQLite-backed :class:`~adapters.sim.calls.CallStore`: calls, effects and idempotency
records shared by several processes, or kept across a crash and restart.

Mostly these records are shared: each process still holds its own in-memory estate. That is what
"at most once" tests need: a worker killed mid-change and restarted, or two worker processes
racing, see the same idempotency keys and the same effect counts. Replicas of the bot sharing a
file also need the same ticket ids and tickets, so the store hands out named sequences and keeps
shared objects (the PSA's tickets) as JSON.

It uses the standard library's ``sqlite3`` on purpose: this file is test infrastructure, and its
tables must not join the application's metadata and migrations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from adapters.contracts import (
    Alert,
    FirewallRule,
    IdentityUser,
    Job,
    SecretRotation,
    SiemRule,
    Ticket,
)
from adapters.sim.calls import CallRecord

__all__ = ["SqliteCallStore"]

# Every type a mutating sim call can return, so a stored result can be rebuilt.
_RESULT_TYPES: dict[str, type[BaseModel]] = {
    t.__name__: t
    for t in (Alert, FirewallRule, IdentityUser, Job, SecretRotation, SiemRule, Ticket)
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sim_calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    category TEXT NOT NULL, method TEXT NOT NULL, target TEXT, args TEXT NOT NULL,
    idempotency_key TEXT, at TEXT NOT NULL, outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_effects (
    category TEXT NOT NULL, method TEXT NOT NULL, target TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (category, method, target)
);
CREATE TABLE IF NOT EXISTS sim_idempotency (
    category TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result_type TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (category, key)
);
CREATE TABLE IF NOT EXISTS sim_sequences (
    name TEXT PRIMARY KEY, value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sim_objects (
    kind TEXT NOT NULL, key TEXT NOT NULL, value_type TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
"""
_NO_TARGET = ""  # SQLite primary keys and NULL do not mix; "" stands for "no target"


class SqliteCallStore:
    """Calls, effects and idempotency records in one SQLite file.

    Args:
        path: the database file; created with its tables if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit mode: transactions are opened explicitly by exclusive().
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One write transaction, so no other process checks a key while this one applies it."""
        conn = self._conn()
        if conn.in_transaction:  # re-entered from inside the same change
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            # Committed even when the call failed: its call record must stay, and the
            # in-memory estate has no rollback either.
            conn.execute("COMMIT")

    def append(self, record: CallRecord) -> CallRecord:
        """Keep one call record; the database numbers it."""
        cur = self._conn().execute(
            "INSERT INTO sim_calls (category, method, target, args, idempotency_key, at, outcome)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.category,
                record.method,
                record.target,
                json.dumps(record.args, sort_keys=True, default=str),
                record.idempotency_key,
                record.at.isoformat(),
                record.outcome,
            ),
        )
        return record.model_copy(update={"seq": int(cur.lastrowid or 0)})

    def records(self) -> list[CallRecord]:
        """Every record, oldest first."""
        rows = self._conn().execute(
            "SELECT seq, category, method, target, args, idempotency_key, at, outcome"
            " FROM sim_calls ORDER BY seq"
        )
        return [
            CallRecord(
                seq=seq,
                category=cat,
                method=meth,
                target=target,
                args=json.loads(args),
                idempotency_key=key,
                at=datetime.fromisoformat(at),
                outcome=outcome,
            )
            for seq, cat, meth, target, args, key, at, outcome in rows
        ]

    def add_effect(self, category: str, method: str, target: str | None) -> None:
        """Count one change that reached the estate."""
        self._conn().execute(
            "INSERT INTO sim_effects (category, method, target, n) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (category, method, target) DO UPDATE SET n = n + 1",
            (category, method, target if target is not None else _NO_TARGET),
        )

    def effects(self) -> Mapping[tuple[str, str, str | None], int]:
        """Counts per (category, method, target)."""
        rows = self._conn().execute("SELECT category, method, target, n FROM sim_effects")
        return {(c, m, t if t != _NO_TARGET else None): n for c, m, t, n in rows}

    def lookup(self, category: str, key: str) -> tuple[str, object] | None:
        """The (fingerprint, rebuilt result) stored for the key, if any."""
        row = (
            self._conn()
            .execute(
                "SELECT fingerprint, result_type, result FROM sim_idempotency"
                " WHERE category = ? AND key = ?",
                (category, key),
            )
            .fetchone()
        )
        if row is None:
            return None
        fp, type_name, body = row
        if type_name == "None":
            return fp, None
        return fp, _RESULT_TYPES[type_name].model_validate_json(body)

    def remember(self, category: str, key: str, fp: str, result: object) -> None:
        """Keep the result of the first successful application of ``key``."""
        if result is None:
            type_name, body = "None", "null"
        elif isinstance(result, BaseModel) and type(result).__name__ in _RESULT_TYPES:
            type_name, body = type(result).__name__, result.model_dump_json()
        else:
            raise TypeError(f"cannot store a sim result of type {type(result).__name__}")
        self._conn().execute(
            "INSERT INTO sim_idempotency (category, key, fingerprint, result_type, result)"
            " VALUES (?, ?, ?, ?, ?)",
            (category, key, fp, type_name, body),
        )

    def next_number(self, name: str, *, after: int = 0) -> int:
        """The next value of the named sequence, atomic across every process on the file."""
        conn = self._conn()
        # The write lock of exclusive() makes the increment and the read one step.
        with self.exclusive():
            conn.execute(
                "INSERT INTO sim_sequences (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value - 1) + 1",
                (name, after + 1),
            )
            row = conn.execute("SELECT value FROM sim_sequences WHERE name = ?", (name,))
            return int(row.fetchone()[0])

    def save_object(self, kind: str, key: str, value: BaseModel) -> None:
        """Keep the current state of one shared object, replacing the last one."""
        type_name = type(value).__name__
        if _RESULT_TYPES.get(type_name) is not type(value):
            raise TypeError(f"cannot store a sim object of type {type_name}")
        # An upsert keeps the rowid, so objects() lists in first-saved order.
        self._conn().execute(
            "INSERT INTO sim_objects (kind, key, value_type, value) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, key) DO UPDATE"
            " SET value_type = excluded.value_type, value = excluded.value",
            (kind, key, type_name, value.model_dump_json()),
        )

    def load_object(self, kind: str, key: str) -> BaseModel | None:
        """The state kept for ``(kind, key)``, if any process saved one."""
        row = (
            self._conn()
            .execute(
                "SELECT value_type, value FROM sim_objects WHERE kind = ? AND key = ?",
                (kind, key),
            )
            .fetchone()
        )
        return None if row is None else _RESULT_TYPES[row[0]].model_validate_json(row[1])

    def objects(self, kind: str) -> list[BaseModel]:
        """Every object of ``kind``, in the order they were first saved."""
        rows = self._conn().execute(
            "SELECT value_type, value FROM sim_objects WHERE kind = ? ORDER BY rowid", (kind,)
        )
        return [_RESULT_TYPES[t].model_validate_json(v) for t, v in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
