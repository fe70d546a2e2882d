"""The audit chain's record format: the table, the row, and the hash linking each row to the last.

Everything that must agree byte for byte between writing, verifying and a SIEM re-checking an
export lives here: the domain-separated SHA-256 over ``prev_hash`` and the canonical JSON of the
row, the genesis hash, and the decoding of a stored row back into an :class:`AuditRow`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Row,
    Select,
    String,
    Table,
    Text,
    cast,
    select,
)

from twin.db import metadata

__all__ = [
    "DOMAIN",
    "GENESIS_HASH",
    "AppendedRow",
    "AuditRow",
    "RowContent",
    "as_utc",
    "audit_table",
    "canonical_json",
    "compute_hash",
    "iso_utc",
    "row_from_db",
    "select_rows",
]

DOMAIN = b"opshand-audit-v1\x00"
"""Prefix of every hashed message, so an audit hash can never be confused with another hash."""

GENESIS_HASH = hashlib.sha256(b"opshand-audit-v1 genesis").hexdigest()
"""The ``prev_hash`` of the first row."""

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
        data["at"] = iso_utc(self.at)
        return data


@dataclass(frozen=True, slots=True)
class RowContent:
    """What an append says, validated and redacted, before it has a place in the chain."""

    kind: str
    actor: str
    change_id: str | None
    plan_hash: str | None
    body: dict[str, Any]
    at: datetime
    """When ``append`` was called (UTC); linking moves it up to the previous row's if earlier."""

    def link(self, seq: int, prev_hash: str, prev_at: datetime | None) -> AuditRow:
        """The stored row this content becomes at ``seq``, after a row with ``prev_hash``."""
        at = as_utc(self.at)
        if prev_at is not None and as_utc(prev_at) > at:
            at = as_utc(prev_at)  # keep time monotonic along the chain despite clock skew
        row = AuditRow(
            seq=seq,
            at=at,
            kind=self.kind,
            actor=self.actor,
            change_id=self.change_id,
            plan_hash=self.plan_hash,
            body=self.body,
            prev_hash=prev_hash,
            hash="",
        )
        return row.model_copy(update={"hash": compute_hash(row)})


class AppendedRow:
    """What ``AuditLog.append`` returns: a row whose place in the chain is fixed at commit.

    Appends are linked into the chain (``seq``, ``at``, ``prev_hash``, ``hash``) just before
    their transaction commits, so those fields, and :attr:`row`, can be read only after the
    commit (or after ``AuditLog.flush`` on the same connection). It compares equal to the
    :class:`AuditRow` it became. Do not mutate ``content.body``: it is hashed at commit.
    """

    __slots__ = ("_row", "_state", "content")

    def __init__(self, content: RowContent) -> None:
        """Wrap the content of one append (``AuditLog`` makes these)."""
        self.content = content
        """The validated, redacted content, known from the call on."""
        self._row: AuditRow | None = None
        self._state: Literal["pending", "linked", "dropped"] = "pending"

    @property
    def state(self) -> Literal["pending", "linked", "dropped"]:
        """``pending`` until linked; ``dropped`` if its transaction (or savepoint) rolled back."""
        return self._state

    @property
    def row(self) -> AuditRow:
        """The stored row; raises ``RuntimeError`` while pending or once dropped."""
        if self._row is None:
            if self._state == "dropped":
                raise RuntimeError("this audit row was rolled back with its transaction")
            raise RuntimeError(
                "this audit row gets its seq and hash when its transaction commits; "
                "read them after the commit, or call AuditLog.flush(conn) first"
            )
        return self._row

    @property
    def seq(self) -> int:
        """The row's position in the chain (see :attr:`row`)."""
        return self.row.seq

    @property
    def at(self) -> datetime:
        """When it was appended, as stored (see :attr:`row`)."""
        return self.row.at

    @property
    def prev_hash(self) -> str:
        """The previous row's hash (see :attr:`row`)."""
        return self.row.prev_hash

    @property
    def hash(self) -> str:
        """The row's hash (see :attr:`row`)."""
        return self.row.hash

    def settle(self, row: AuditRow) -> None:
        """Record the row this append became (called by ``AuditLog`` when it links it)."""
        self._row, self._state = row, "linked"

    def discard(self) -> None:
        """Mark the append rolled back (called by ``AuditLog``)."""
        self._row, self._state = None, "dropped"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AppendedRow):
            return self is other or (self._row is not None and self._row == other._row)
        if isinstance(other, AuditRow):
            return self._row == other
        return NotImplemented

    # Equal to its row but mutable until linked, so it has no stable hash.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self._row is None:
            return f"AppendedRow({self._state}, kind={self.content.kind!r})"
        return f"AppendedRow(seq={self._row.seq}, kind={self.content.kind!r})"


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
    record["at"] = iso_utc(row.at)
    digest = hashlib.sha256(DOMAIN)
    digest.update(row.prev_hash.encode("ascii"))
    digest.update(b"\x00")
    digest.update(canonical_json(record))
    return digest.hexdigest()


def select_rows() -> Select[Any]:
    """Every column of ``audit_log`` as :func:`row_from_db` reads it (the body as text)."""
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


def row_from_db(raw: Row[Any]) -> AuditRow:
    """Decode one row of :func:`select_rows`; ``ValueError`` if its body is not a JSON object."""
    try:
        body = json.loads(raw.body_text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit row {raw.seq} has a body that is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise ValueError(f"audit row {raw.seq} has a body that is not a JSON object")
    return AuditRow(
        seq=raw.seq,
        at=as_utc(raw.at),
        kind=raw.kind,
        actor=raw.actor,
        change_id=raw.change_id,
        plan_hash=raw.plan_hash,
        body=body,
        prev_hash=raw.prev_hash,
        hash=raw.hash,
    )


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC, timezone-aware."""
    # SQLite hands timestamps back naive; they were stored as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def iso_utc(at: datetime) -> str:
    """``at`` as the ISO 8601 UTC text hashed and exported (always with microseconds)."""
    return as_utc(at).isoformat(timespec="microseconds")
