"""The tamper-evident audit log: an append-only, hash-chained table with external checkpoints.

Each row's hash covers the previous row's hash and a canonical encoding of the row, so editing,
deleting or reordering rows breaks the chain at the first touched row. Removing the tail, or
rewriting the whole chain consistently, leaves a valid-looking chain; the external checkpoint (the
head's seq and hash, recorded out of the database's reach) catches both.

Rows are written on the *caller's* connection, inside the caller's transaction, so a state change
and its audit row commit or roll back together. Appends are serialised so the chain never forks:
PostgreSQL takes a transaction-scoped advisory lock, SQLite engines from ``twin.db.make_engine``
begin every transaction ``IMMEDIATE`` (one writer at a time), and on any backend the ``seq``
primary key turns a lost race into an error instead of a fork. Bodies are redacted before hashing.

Run PostgreSQL at READ COMMITTED (its default): under a snapshot taken before the lock the head
read would be stale, and the append would fail on the primary key.

This module is the log's face: the row format and hash live in :mod:`agent.audit_chain`, the
external checkpoints in :mod:`agent.audit_checkpoint` and the chain walk in
:mod:`agent.audit_verify`; their public names are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import weakref
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, RootTransaction, Row, select, text

from agent.audit_chain import (
    GENESIS_HASH,
    AuditRow,
    as_utc,
    audit_table,
    canonical_json,
    compute_hash,
    row_from_db,
    select_rows,
)
from agent.audit_checkpoint import Checkpoint, CheckpointEntry, CheckpointError, FileCheckpoint
from agent.audit_verify import VerifyProblem, VerifyResult, verify_chain
from agent.redact import Redactor
from twin.model import utcnow

__all__ = [
    "GENESIS_HASH",
    "MAX_BODY_BYTES",
    "AuditLog",
    "AuditRow",
    "Checkpoint",
    "CheckpointEntry",
    "CheckpointError",
    "FileCheckpoint",
    "VerifyProblem",
    "VerifyResult",
    "audit_table",
    "canonical_json",
    "compute_hash",
]

MAX_BODY_BYTES = 256 * 1024
"""Largest canonical body accepted; audit rows record decisions, not payload dumps."""

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"opshand.audit_log").digest()[:8], "big", signed=True)
_KIND = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_MAX_LIMIT = 10_000


class AuditLog:
    """Append, verify, query and export the hash-chained audit log.

    Args:
        engine: The database holding ``audit_log`` (create it with ``metadata.create_all``).
        redactor: Scrubs every string field and the body before it is hashed and stored.
        checkpoint: Where the head is recorded, out of reach of whoever can write the database.
        checkpoint_every: Record a checkpoint automatically after this many appends (0: only
            when :meth:`checkpoint` is called).
        page_size: Rows per round trip when verifying or exporting.

    The read methods (``head``, ``checkpoint``, ``verify``, ``query``, ``export_jsonl``) use their
    own connection. On SQLite do not call them from a thread that holds an open write
    transaction on another connection: they would wait for that thread's own lock.
    """

    def __init__(
        self,
        engine: Engine,
        redactor: Redactor,
        checkpoint: Checkpoint,
        *,
        checkpoint_every: int = 100,
        page_size: int = 500,
    ) -> None:
        """Bind the log to its database, redactor and checkpoint store."""
        if checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self._engine = engine
        self._redactor = redactor
        self._checkpoint = checkpoint
        self._every = checkpoint_every
        self._page = page_size
        self._lock = threading.Lock()
        self._since_checkpoint = 0
        self._last_checkpoint_seq = 0
        # Transactions that already appended rows: their head read includes uncommitted rows,
        # which must never be checkpointed (a rollback would then look like a truncation).
        self._dirty: weakref.WeakSet[RootTransaction] = weakref.WeakSet()

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        *,
        kind: str,
        actor: str,
        body: Mapping[str, Any],
        change_id: str | None = None,
        plan_hash: str | None = None,
    ) -> AuditRow:
        """Append one row inside the caller's transaction.

        The row is visible to others, and durable, only when the caller commits ``conn``'s
        transaction; if it rolls back, the row never existed. Make it the transaction's last
        write: the append lock is held until commit, so taking it early queues every other
        writer behind this transaction, and on PostgreSQL a row lock taken after it can
        deadlock with a writer that holds that row and waits for the append lock.

        Args:
            conn: The caller's open connection; the same one that writes the state change.
            kind: Dotted lower-case event name, e.g. ``change.denied``.
            actor: Who acted, e.g. ``slack:T123:U456``, ``system``.
            body: JSON-like details. Datetimes, enums, UUIDs, decimals, sets and pydantic models
                are converted; secrets are redacted.
            change_id: The change this row is about.
            plan_hash: The plan hash a decision or vote is bound to.

        Returns:
            The stored row.

        Raises:
            ValueError: A field is malformed, the body is not JSON-like or too large.
        """
        # Scrub before checking, so neither the row nor an error message can carry a secret.
        kind = _check_text("kind", self._scrub(kind), 64)
        if not _KIND.fullmatch(kind):
            raise ValueError(
                f"kind {kind!r} must be dotted lower-case words, like 'change.proposed'"
            )
        actor = _check_text("actor", self._scrub(actor), 200)
        if change_id is not None:
            change_id = _check_text("change_id", self._scrub(change_id), 64)
        if plan_hash is not None:
            plan_hash = _check_text("plan_hash", self._scrub(plan_hash), 128)
        clean = self._prepare_body(body)

        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        t = audit_table.c
        head = conn.execute(select(t.seq, t.hash, t.at).order_by(t.seq.desc()).limit(1)).first()
        txn = conn.get_transaction()
        if head is not None:
            self._maybe_checkpoint(head.seq, head.hash, head.at, txn)
        seq = head.seq + 1 if head is not None else 1
        prev = head.hash if head is not None else GENESIS_HASH
        at = utcnow()
        if head is not None and as_utc(head.at) > at:
            at = as_utc(head.at)  # keep time monotonic along the chain despite clock skew
        row = AuditRow(
            seq=seq,
            at=at,
            kind=kind,
            actor=actor,
            change_id=change_id,
            plan_hash=plan_hash,
            body=clean,
            prev_hash=prev,
            hash="",
        )
        row = row.model_copy(update={"hash": compute_hash(row)})
        conn.execute(audit_table.insert().values(row.model_dump()))
        with self._lock:
            self._since_checkpoint += 1
            if txn is not None:
                self._dirty.add(txn)
        return row

    def _scrub(self, value: object) -> object:
        return self._redactor.redact_text(value) if isinstance(value, str) else value

    def _prepare_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ValueError(f"body must be a mapping (a JSON object), got {type(body).__name__}")
        clean = self._redactor.redact_json(body, "body")
        size = len(canonical_json(clean))
        if size > MAX_BODY_BYTES:
            raise ValueError(
                f"body is {size} bytes once encoded; the limit is {MAX_BODY_BYTES}. "
                "Summarise it and keep the full payload elsewhere"
            )
        return dict(clean)

    def _maybe_checkpoint(
        self, seq: int, hash_: str, at: datetime, txn: RootTransaction | None
    ) -> None:
        with self._lock:
            due = self._every > 0 and self._since_checkpoint >= self._every
            if not due or txn is None or txn in self._dirty:
                return
        # The head was read under the append lock by a transaction that has not appended yet,
        # so it is committed: safe to record even if this transaction later rolls back.
        self._record(CheckpointEntry(seq=seq, hash=hash_, at=as_utc(at)))

    def checkpoint(self) -> CheckpointEntry | None:
        """Record the committed head in the external checkpoint; None if the log is empty.

        Call it from a scheduler (and at shutdown); appends also call it every
        ``checkpoint_every`` rows. Recording the same head twice writes nothing new.
        """
        head = self.head()
        if head is None:
            return None
        entry = CheckpointEntry(seq=head.seq, hash=head.hash, at=head.at)
        self._record(entry)
        return entry

    def _record(self, entry: CheckpointEntry) -> None:
        with self._lock:
            if entry.seq <= self._last_checkpoint_seq:
                return
            self._checkpoint.record(entry)
            self._last_checkpoint_seq = entry.seq
            self._since_checkpoint = 0

    # -- reading -------------------------------------------------------------------------------

    def head(self, conn: Connection | None = None) -> AuditRow | None:
        """The last row, or None for an empty log (read on ``conn`` if given)."""
        stmt = select_rows().order_by(audit_table.c.seq.desc()).limit(1)
        if conn is not None:
            row = conn.execute(stmt).first()
        else:
            with self._engine.connect() as own:
                row = own.execute(stmt).first()
        return None if row is None else row_from_db(row)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str | None = None,
        change_id: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[AuditRow]:
        """Rows matching every given filter, in chain order (or newest first).

        Args:
            since: Only rows at or after this instant (timezone-aware).
            until: Only rows before this instant (timezone-aware).
            kind: Exact kind, or a prefix ending in ``.*`` (``"change.*"``).
            change_id: Only rows about this change.
            actor: Only rows by this actor.
            limit: At most this many rows (1..10000).
            newest_first: Order by descending seq.
        """
        if not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
        t = audit_table.c
        stmt = select_rows()
        if since is not None:
            stmt = stmt.where(t.at >= _aware("since", since))
        if until is not None:
            stmt = stmt.where(t.at < _aware("until", until))
        if kind is not None:
            if kind.endswith(".*"):
                stmt = stmt.where(t.kind.startswith(kind[:-1], autoescape=True))
            else:
                stmt = stmt.where(t.kind == kind)
        if change_id is not None:
            stmt = stmt.where(t.change_id == change_id)
        if actor is not None:
            stmt = stmt.where(t.actor == actor)
        stmt = stmt.order_by(t.seq.desc() if newest_first else t.seq).limit(limit)
        with self._engine.connect() as conn:
            return [row_from_db(r) for r in conn.execute(stmt)]

    def iter_rows(self, *, after_seq: int = 0, since: datetime | None = None) -> Iterator[AuditRow]:
        """Every row after ``after_seq`` (and at or after ``since``), fetched page by page."""
        with closing(self._pages(after_seq, since)) as pages:
            for page in pages:
                if isinstance(page, Exception):
                    raise page
                yield from (row_from_db(r) for r in page)

    def export_jsonl(
        self, fp: IO[str], since: datetime | None = None, *, after_seq: int = 0
    ) -> int:
        """Write rows as JSON lines for a SIEM (hashes included, so it can re-verify).

        Args:
            fp: A text stream.
            since: Only rows at or after this instant.
            after_seq: Only rows after this seq (a shipping cursor).

        Returns:
            The number of lines written.
        """
        count = 0
        for row in self.iter_rows(after_seq=after_seq, since=since):
            fp.write(json.dumps(row.to_json(), sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
        return count

    # -- verifying -----------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Walk the whole chain page by page and compare it with every checkpoint entry.

        Stops at the first problem: an edited row (``hash_mismatch``), a deleted or moved row
        (``prev_link_broken`` or ``seq_gap``), a row the database cannot decode
        (``row_unreadable``), a log shorter than a checkpoint (``behind_checkpoint``), a row
        whose hash differs from the one checkpointed at its seq (``checkpoint_mismatch``), or a
        damaged checkpoint store (``checkpoint_unreadable``).
        """
        try:
            # Read the checkpoints first: any entry written later points past what we scan.
            entries = self._checkpoint.entries()
        except CheckpointError as exc:
            return VerifyResult(
                ok=False,
                rows_checked=0,
                checkpoints_checked=0,
                head_seq=0,
                problem="checkpoint_unreadable",
                detail=f"the checkpoint store cannot be read: {exc}",
            )
        with closing(self._pages()) as pages:  # release the connection on an early stop
            return verify_chain(entries, pages)

    def _pages(
        self, after_seq: int = 0, since: datetime | None = None
    ) -> Generator[list[Row[Any]] | Exception, None, None]:
        last = after_seq
        stmt = select_rows()
        if since is not None:
            stmt = stmt.where(audit_table.c.at >= _aware("since", since))
        with self._engine.connect() as conn:
            while True:
                try:
                    page = list(
                        conn.execute(
                            stmt.where(audit_table.c.seq > last)
                            .order_by(audit_table.c.seq)
                            .limit(self._page)
                        )
                    )
                except Exception as exc:  # a hand-edited column the driver cannot decode
                    yield exc
                    return
                finally:
                    conn.rollback()  # short read transactions: never hold SQLite's lock long
                yield page
                if len(page) < self._page:
                    return
                last = page[-1].seq


# -- helpers ---------------------------------------------------------------------------------


def _aware(name: str, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _check_text(name: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not value or value.strip() != value:
        raise ValueError(f"{name} must be a non-empty string without outer spaces, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{name} must be at most {max_len} characters, got {len(value)}")
    return value
