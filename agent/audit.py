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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import weakref
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    RootTransaction,
    Row,
    Select,
    String,
    Table,
    Text,
    cast,
    select,
    text,
)

from agent.redact import Redactor
from twin.db import metadata
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

DOMAIN = b"opshand-audit-v1\x00"
"""Prefix of every hashed message, so an audit hash can never be confused with another hash."""

GENESIS_HASH = hashlib.sha256(b"opshand-audit-v1 genesis").hexdigest()
"""The ``prev_hash`` of the first row."""

MAX_BODY_BYTES = 256 * 1024
"""Largest canonical body accepted; audit rows record decisions, not payload dumps."""

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"opshand.audit_log").digest()[:8], "big", signed=True)
_KIND = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_MAX_LIMIT = 10_000

audit_table = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(64), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("change_id", String(64), nullable=True, index=True),
    Column("plan_hash", String(128), nullable=True),
    # Plain JSON, never JSONB: JSONB rewrites numbers (1e20 -> 100000000000000000000) and the
    # re-encoded body would no longer match its hash.
    Column("body", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


class AuditRow(BaseModel):
    """One audit row as stored, hashes included."""

    model_config = ConfigDict(frozen=True)

    seq: int
    """Position in the chain, from 1, without gaps."""
    at: datetime
    """When it was appended (UTC; never earlier than the previous row)."""
    kind: str
    """What happened, dotted: ``change.proposed``, ``consent.vote``, ``integration.call``..."""
    actor: str
    """Who: ``slack:T123:U456``, ``signal:alertmanager``, ``system``."""
    change_id: str | None
    """The journal change this row is about, if any."""
    plan_hash: str | None
    """The plan hash the decision or vote was bound to, if any."""
    body: dict[str, Any]
    """What, why, decision, rule ids, integration calls and results (already redacted)."""
    prev_hash: str
    """Hash of the previous row (:data:`GENESIS_HASH` for seq 1)."""
    hash: str
    """SHA-256 (hex) over :data:`DOMAIN`, ``prev_hash`` and the canonical row."""

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object (the ``export_jsonl`` line format)."""
        data = self.model_dump(mode="json")
        data["at"] = _iso(self.at)
        return data


VerifyProblem = Literal[
    "hash_mismatch",
    "prev_link_broken",
    "seq_gap",
    "row_unreadable",
    "behind_checkpoint",
    "checkpoint_mismatch",
    "checkpoint_unreadable",
]


class VerifyResult(BaseModel):
    """Outcome of :meth:`AuditLog.verify`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    """True when every row and every checkpoint agree."""
    rows_checked: int
    """Rows whose link and hash were checked before stopping."""
    checkpoints_checked: int
    """Checkpoint entries compared against the chain."""
    head_seq: int
    """Last seq read (0 for an empty log)."""
    first_bad_seq: int | None = None
    """The first seq at which something is wrong."""
    problem: VerifyProblem | None = None
    """What is wrong there."""
    detail: str
    """One sentence for a person."""


def canonical_json(value: Any) -> bytes:
    """The one byte encoding hashes are computed over: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_hash(row: AuditRow) -> str:
    """The hash ``row`` must carry, from its fields and ``prev_hash`` (its own ``hash`` ignored).

    A SIEM can re-verify an export with it: ``compute_hash(AuditRow.model_validate(line))``.
    """
    record = row.model_dump(mode="json", exclude={"prev_hash", "hash"})
    record["at"] = _iso(row.at)
    digest = hashlib.sha256(DOMAIN)
    digest.update(row.prev_hash.encode("ascii"))
    digest.update(b"\x00")
    digest.update(canonical_json(record))
    return digest.hexdigest()


class CheckpointError(Exception):
    """The checkpoint store cannot be read or written; verification must not pass silently."""


class CheckpointEntry(BaseModel):
    """One recorded head of the chain."""

    model_config = ConfigDict(frozen=True)

    seq: int
    """The head's seq when recorded."""
    hash: str
    """The head's hash when recorded."""
    at: datetime
    """The head row's ``at``."""


class Checkpoint(Protocol):
    """Somewhere outside the database to keep the chain's heads (a file, a SIEM, object lock).

    Entries are only ever added; ``verify`` checks every one of them against the chain.
    """

    def record(self, entry: CheckpointEntry) -> None:
        """Durably add ``entry``; raise :class:`CheckpointError` if that is impossible."""
        ...

    def entries(self) -> list[CheckpointEntry]:
        """Every entry recorded so far; raise :class:`CheckpointError` if any is unreadable."""
        ...


class FileCheckpoint:
    """Checkpoints as JSON lines appended to a file, fsynced, one ``write`` per line.

    Keep the file where the database's writers cannot reach it (another host, a WORM mount,
    shipped to the SIEM): a checkpoint that an attacker can edit with the table proves nothing.
    Several processes may append to the same file; lines need not be in seq order.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Use the file at ``path`` (created, with its folder, on the first record)."""
        self.path = Path(path)

    def record(self, entry: CheckpointEntry) -> None:
        """Append ``entry`` as one line and fsync it."""
        line = json.dumps({"seq": entry.seq, "hash": entry.hash, "at": _iso(entry.at)}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("ascii"))  # O_APPEND + one write: no torn lines
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint file {self.path}: {exc}") from exc

    def entries(self) -> list[CheckpointEntry]:
        """Parse every line; a missing file means no checkpoint was taken yet."""
        try:
            text_ = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read checkpoint file {self.path}: {exc}") from exc
        out: list[CheckpointEntry] = []
        for lineno, line in enumerate(text_.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                entry = CheckpointEntry(
                    seq=data["seq"], hash=data["hash"], at=datetime.fromisoformat(data["at"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{self.path}:{lineno} is not a checkpoint: {exc}") from exc
            out.append(entry)
        return out


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
        if head is not None and _utc(head.at) > at:
            at = _utc(head.at)  # keep time monotonic along the chain despite clock skew
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
        self._record(CheckpointEntry(seq=seq, hash=hash_, at=_utc(at)))

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
        stmt = _select_rows().order_by(audit_table.c.seq.desc()).limit(1)
        if conn is not None:
            row = conn.execute(stmt).first()
        else:
            with self._engine.connect() as own:
                row = own.execute(stmt).first()
        return None if row is None else _to_row(row)

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
        stmt = _select_rows()
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
            return [_to_row(r) for r in conn.execute(stmt)]

    def iter_rows(self, *, after_seq: int = 0, since: datetime | None = None) -> Iterator[AuditRow]:
        """Every row after ``after_seq`` (and at or after ``since``), fetched page by page."""
        with closing(self._pages(after_seq, since)) as pages:
            for page in pages:
                if isinstance(page, Exception):
                    raise page
                yield from (_to_row(r) for r in page)

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
        marks: dict[int, list[CheckpointEntry]] = {}
        for entry in entries:
            marks.setdefault(entry.seq, []).append(entry)
        with closing(self._pages()) as pages:  # release the connection on an early stop
            return _Walk(marks).run(pages)

    def _pages(
        self, after_seq: int = 0, since: datetime | None = None
    ) -> Generator[list[Row[Any]] | Exception, None, None]:
        last = after_seq
        stmt = _select_rows()
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


class _Walk:
    """The state of one verification pass."""

    def __init__(self, marks: dict[int, list[CheckpointEntry]]) -> None:
        self.marks = marks
        self.checked = 0
        self.marks_checked = 0
        self.expected_seq = 1
        self.prev = GENESIS_HASH

    def fail(self, seq: int, problem: VerifyProblem, detail: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            rows_checked=self.checked,
            checkpoints_checked=self.marks_checked,
            head_seq=self.expected_seq - 1,
            first_bad_seq=seq,
            problem=problem,
            detail=detail,
        )

    def run(self, pages: Iterator[list[Row[Any]] | Exception]) -> VerifyResult:
        for page in pages:
            if isinstance(page, Exception):
                return self.fail(
                    self.expected_seq,
                    "row_unreadable",
                    f"rows from seq {self.expected_seq} cannot be decoded: {page}",
                )
            for raw in page:
                bad = self.check(raw)
                if bad is not None:
                    return bad
        head = self.expected_seq - 1
        if self.marks and max(self.marks) > head:
            top = self.marks[max(self.marks)][0]
            return self.fail(
                head + 1,
                "behind_checkpoint",
                f"the log ends at seq {head} but a checkpoint recorded seq {top.seq} "
                f"(at {_iso(top.at)}): rows were removed from the tail",
            )
        return VerifyResult(
            ok=True,
            rows_checked=self.checked,
            checkpoints_checked=self.marks_checked,
            head_seq=head,
            detail=f"{self.checked} rows and {self.marks_checked} checkpoints verify",
        )

    def check(self, raw: Row[Any]) -> VerifyResult | None:
        seq = raw.seq
        if seq != self.expected_seq:
            return self.fail(
                seq, "seq_gap", f"seq {self.expected_seq} is missing: the next row is seq {seq}"
            )
        if raw.prev_hash != self.prev:
            return self.fail(
                seq,
                "prev_link_broken",
                f"row {seq} does not link to row {seq - 1}: a row was deleted, moved or replaced",
            )
        try:
            row = _to_row(raw)
            recomputed = compute_hash(row)
        except (ValueError, TypeError) as exc:
            return self.fail(seq, "row_unreadable", f"row {seq} cannot be decoded: {exc}")
        if recomputed != row.hash:
            return self.fail(
                seq, "hash_mismatch", f"row {seq} was changed after it was written (hash mismatch)"
            )
        for mark in self.marks.get(seq, ()):
            self.marks_checked += 1
            if mark.hash != row.hash:
                return self.fail(
                    seq,
                    "checkpoint_mismatch",
                    f"row {seq} differs from the checkpoint taken at {_iso(mark.at)}: "
                    "the chain was rewritten",
                )
        self.checked += 1
        self.expected_seq = seq + 1
        self.prev = row.hash
        return None


# -- helpers ---------------------------------------------------------------------------------


def _select_rows() -> Select[Any]:
    t = audit_table.c
    # The body is read as text and decoded here, so a hand-edited body that is not valid JSON
    # is reported by verify instead of crashing the driver.
    return select(
        t.seq,
        t.at,
        t.kind,
        t.actor,
        t.change_id,
        t.plan_hash,
        cast(t.body, Text).label("body_text"),
        t.prev_hash,
        t.hash,
    )


def _to_row(raw: Row[Any]) -> AuditRow:
    try:
        body = json.loads(raw.body_text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit row {raw.seq} has a body that is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ValueError(f"audit row {raw.seq} has a body that is not a JSON object")
    return AuditRow(
        seq=raw.seq,
        at=_utc(raw.at),
        kind=raw.kind,
        actor=raw.actor,
        change_id=raw.change_id,
        plan_hash=raw.plan_hash,
        body=body,
        prev_hash=raw.prev_hash,
        hash=raw.hash,
    )


def _utc(at: datetime) -> datetime:
    # SQLite hands timestamps back naive; they were stored as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _iso(at: datetime) -> str:
    return _utc(at).isoformat(timespec="microseconds")


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
