"""The tamper-evident audit log: an append-only, hash-chained table with external checkpoints.

Each row's hash covers the previous row's hash and a canonical encoding of the row, so editing,
deleting or reordering rows breaks the chain at the first touched row. Removing the tail, or
rewriting the whole chain consistently, leaves a valid-looking chain; the external checkpoint (the
head's seq and hash, recorded out of the database's reach) catches both.

Rows are written on the *caller's* connection, inside the caller's transaction, so a state change
and its audit row commit or roll back together. An append validates and redacts its row at once
but buffers it with the transaction; a ``commit`` listener on the engine links the buffered rows
into the chain and inserts them just before the database commit, and a ``rollback`` (or a rolled
back savepoint) drops them. Linking is serialised so the chain never forks: PostgreSQL takes a
transaction-scoped advisory lock, held only from that last step to the commit, SQLite engines from
``twin.db.make_engine`` begin every transaction ``IMMEDIATE`` (one writer at a time), and on any
backend the ``seq`` primary key turns a lost race into an error instead of a fork. Bodies are
redacted before hashing.

Run PostgreSQL at READ COMMITTED (its default): under a snapshot taken before the lock the head
read would be stale, and the append would fail on the primary key.

The row format and hash live in :mod:`agent.audit.chain`, linking at commit in
:mod:`agent.audit.linking`, the external checkpoints in :mod:`agent.audit.checkpoint` and the
chain walk in :mod:`agent.audit.verify`.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, RootTransaction, Row

from agent.audit.chain import (
    AppendedRow,
    AuditRow,
    RowContent,
    as_utc,
    audit_table,
    canonical_json,
    row_from_db,
    select_rows,
)
from agent.audit.checkpoint import Checkpoint, CheckpointEntry, CheckpointError
from agent.audit.linking import buffer, flush_pending, watch
from agent.audit.redact import Redactor
from agent.audit.verify import VerifyResult, verify_chain
from twin.model import utcnow

__all__ = [
    "MAX_BODY_BYTES",
    "AuditLog",
]

MAX_BODY_BYTES = 256 * 1024
"""Largest canonical body accepted; audit rows record decisions, not payload dumps."""

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
        watch(engine)

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
    ) -> AppendedRow:
        """Append one row inside the caller's transaction, linked into the chain at commit.

        The row is validated, redacted and checked now (errors raise here), then buffered with
        ``conn``'s transaction. Just before that transaction commits, its buffered rows are
        linked into the chain in call order (consecutive ``seq``, ``prev_hash``, ``hash``) and
        inserted, so they commit with the state change or not at all: a rollback, or a rolled
        back savepoint the append was made in, drops them. The append lock is taken only for
        that last step, so where in the transaction you append does not matter. Rows appended
        in one transaction are not in the table until then; :meth:`flush` (or
        :meth:`head` with ``conn``) links them early, holding the lock until the commit.

        Args:
            conn: The caller's connection; the same one that writes the state change. If it
                has no transaction yet, one is begun (commit it with ``conn.commit()``).
            kind: Dotted lower-case event name, e.g. ``change.denied``.
            actor: Who acted, e.g. ``slack:T123:U456``, ``system``.
            body: JSON-like details. Datetimes, enums, UUIDs, decimals, sets and pydantic models
                are converted; secrets are redacted.
            change_id: The change this row is about.
            plan_hash: The plan hash a decision or vote is bound to.

        Returns:
            A handle on the row; its ``seq``, ``at`` and hashes are readable after the commit.

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

        if conn.engine is not self._engine:
            watch(conn.engine)
        txn = conn.get_transaction() or conn.begin()
        handle = AppendedRow(
            RowContent(
                kind=kind,
                actor=actor,
                change_id=change_id,
                plan_hash=plan_hash,
                body=clean,
                at=utcnow(),
            )
        )
        buffer(txn, self, handle)
        return handle

    def flush(self, conn: Connection) -> None:
        """Link and insert the rows buffered in ``conn``'s transaction now, not at commit.

        For a caller that needs a row's ``seq`` or hash, or must read its own rows back, before
        committing. The append lock is then held until the transaction ends, as every append
        did before rows were buffered: flush as late as you can. Rows flushed inside a savepoint
        that later rolls back leave the table with it, though their handles stay ``linked``.
        """
        flush_pending(conn)

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

    def head_read(self, seq: int, hash_: str, at: datetime, txn: RootTransaction) -> None:
        """The chain's committed head, read under the append lock: checkpoint it when due."""
        with self._lock:
            due = self._every > 0 and self._since_checkpoint >= self._every
            if not due or txn in self._dirty:
                return
        # The head was read under the append lock by a transaction that has not linked rows
        # yet, so it is committed: safe to record even if this transaction later rolls back.
        self._record(CheckpointEntry(seq=seq, hash=hash_, at=as_utc(at)))

    def linked(self, count: int, txn: RootTransaction) -> None:
        """``count`` of this log's rows were linked into the chain inside ``txn``."""
        with self._lock:
            self._since_checkpoint += count
            self._dirty.add(txn)

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
        """The last row, or None for an empty log.

        With ``conn``, read on it after :meth:`flush`, so its own transaction's rows count.
        """
        stmt = select_rows().order_by(audit_table.c.seq.desc()).limit(1)
        if conn is not None:
            self.flush(conn)
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
