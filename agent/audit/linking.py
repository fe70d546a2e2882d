"""Linking buffered audit rows into the chain when their transaction commits.

:meth:`agent.audit.log.AuditLog.append` validates a row and buffers it with the caller's
transaction (:func:`buffer`). Engine listeners installed by :func:`watch` then link the buffered
rows into the chain and insert them just before the database commit, drop them on a rollback,
and track savepoints so a rolled-back savepoint drops only its own rows. Linking takes the
append lock (a PostgreSQL advisory lock; SQLite transactions are ``IMMEDIATE``) from the head
read to the commit, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, RootTransaction, event, select, text

from agent.audit.chain import GENESIS_HASH, AppendedRow, AuditRow, audit_table

__all__ = ["LOCK_KEY", "ChainWriter", "buffer", "flush_pending", "watch"]

LOCK_KEY = int.from_bytes(hashlib.sha256(b"opshand.audit_log").digest()[:8], "big", signed=True)
"""PostgreSQL advisory lock key held from the head read to the commit."""


class ChainWriter(Protocol):
    """What linking tells the log whose rows it linked (:class:`~agent.audit.log.AuditLog`)."""

    def head_read(self, seq: int, hash_: str, at: datetime, txn: RootTransaction) -> None:
        """The committed head, read under the append lock before linking."""

    def linked(self, count: int, txn: RootTransaction) -> None:
        """``count`` rows of this log were linked inside ``txn``."""


@dataclass(eq=False)
class _Pending:
    """One transaction's appends that are not linked into the chain yet."""

    rows: list[tuple[ChainWriter, AppendedRow]] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    """``len(rows)`` when each open savepoint began, innermost last."""


# Buffered appends by transaction. Weak keys: a transaction abandoned without a commit or
# rollback event (its connection invalidated) takes its rows with it.
_PENDING: weakref.WeakKeyDictionary[RootTransaction, _Pending] = weakref.WeakKeyDictionary()
_PENDING_LOCK = threading.Lock()
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()


def buffer(txn: RootTransaction, log: ChainWriter, handle: AppendedRow) -> None:
    """Keep ``handle``'s row with ``txn`` until it commits (linked) or rolls back (dropped)."""
    with _PENDING_LOCK:
        pending = _PENDING.get(txn)
        if pending is None:
            pending = _PENDING[txn] = _Pending()
        pending.rows.append((log, handle))


def flush_pending(conn: Connection) -> None:
    """Link the rows buffered in ``conn``'s transaction now instead of at commit."""
    txn = conn.get_transaction()
    if txn is None:
        return
    with _PENDING_LOCK:
        pending = _PENDING.get(txn)
        if pending is None or not pending.rows:
            return
        rows, pending.rows = pending.rows, []
        # Rows appended from here on inside an open savepoint are all newer than it.
        pending.marks = [0] * len(pending.marks)
    _link(conn, txn, rows)


def watch(engine: Engine) -> None:
    """Listen to ``engine``'s transactions once, to link or drop their buffered appends."""
    with _PENDING_LOCK:
        if engine in _WATCHED:
            return
        event.listen(engine, "commit", _on_commit)
        event.listen(engine, "rollback", _on_rollback)
        event.listen(engine, "savepoint", _on_savepoint)
        event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
        event.listen(engine, "release_savepoint", _on_release_savepoint)
        _WATCHED.add(engine)


def _on_commit(conn: Connection) -> None:
    # SQLAlchemy fires this in Connection._commit_impl before the DBAPI commit, while the root
    # transaction is still active, so statements run inside it. Rows are popped first: if the
    # insert fails the commit raises, the transaction is rolled back, and they are gone.
    txn = conn.get_transaction()
    if txn is None:
        return
    with _PENDING_LOCK:
        pending = _PENDING.pop(txn, None)
    if pending is not None and pending.rows:
        _link(conn, txn, pending.rows)


def _on_rollback(conn: Connection) -> None:
    txn = conn.get_transaction()
    if txn is None:
        return
    with _PENDING_LOCK:
        pending = _PENDING.pop(txn, None)
    for _, handle in pending.rows if pending is not None else ():
        handle.discard()


def _on_savepoint(conn: Connection, _name: str | None) -> None:
    txn = conn.get_transaction()
    if txn is None:
        return
    with _PENDING_LOCK:
        pending = _PENDING.get(txn)
        if pending is None:
            pending = _PENDING[txn] = _Pending()
        pending.marks.append(len(pending.rows))


def _on_release_savepoint(conn: Connection, _name: str, _context: object) -> None:
    # A released savepoint's rows now belong to the enclosing (save)point.
    _end_savepoint(conn, rolled_back=False)


def _on_rollback_savepoint(conn: Connection, _name: str, _context: object) -> None:
    _end_savepoint(conn, rolled_back=True)


def _end_savepoint(conn: Connection, *, rolled_back: bool) -> None:
    txn = conn.get_transaction()
    if txn is None:
        return
    dropped: list[tuple[ChainWriter, AppendedRow]] = []
    with _PENDING_LOCK:
        pending = _PENDING.get(txn)
        if pending is None or not pending.marks:
            return
        mark = pending.marks.pop()
        if rolled_back:
            dropped, pending.rows = pending.rows[mark:], pending.rows[:mark]
    for _, handle in dropped:
        handle.discard()


def _link(
    conn: Connection, txn: RootTransaction, rows: list[tuple[ChainWriter, AppendedRow]]
) -> None:
    """Take the append lock, read the head, and insert ``rows`` as the next links, in order."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    t = audit_table.c
    head = conn.execute(select(t.seq, t.hash, t.at).order_by(t.seq.desc()).limit(1)).first()
    logs: dict[ChainWriter, int] = {}
    for log, _ in rows:
        logs[log] = logs.get(log, 0) + 1
    if head is not None:
        for log in logs:
            log.head_read(head.seq, head.hash, head.at, txn)
    seq, prev_hash, prev_at = 0, GENESIS_HASH, None
    if head is not None:
        seq, prev_hash, prev_at = head.seq, head.hash, head.at
    linked: list[AuditRow] = []
    for _, handle in rows:
        seq += 1
        row = handle.content.link(seq, prev_hash, prev_at)
        linked.append(row)
        prev_hash, prev_at = row.hash, row.at
    conn.execute(audit_table.insert(), [row.model_dump() for row in linked])
    for log, count in logs.items():
        log.linked(count, txn)
    for (_, handle), row in zip(rows, linked, strict=True):
        handle.settle(row)
