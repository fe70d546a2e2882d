"""One change-set in the making.

A :class:`Changeset` collects change-log entries while a transaction runs and, at the end,
writes them and raises the serial, or leaves the serial alone when nothing changed (which is
what makes ingest idempotent). The rows go through :class:`twin._rawsql.RawSQL`; the entity
row helpers live in :mod:`twin._entities`.
"""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from twin._rawsql import LOG_COLS, RawSQL
from twin._schema import change_log, twin_meta
from twin.ingest import Rejection, iter_chunks
from twin.model import Entity, Relation, utcnow

__all__ = ["ApplyResult", "Changeset", "no_gc"]


@dataclass(frozen=True)
class ApplyResult:
    """What a change-set did."""

    serial: int
    """The twin's serial after the change-set (unchanged when nothing changed)."""
    changeset_id: str
    changed: int
    """Change-log rows written: entities created/changed/tombstoned, relations added/removed."""
    touched: int
    """Records that passed validation."""
    rejections: list[Rejection] = field(default_factory=list)
    tombstoned: int = 0
    seen: int = 0
    """Entities only confirmed (newer ``last_seen``, same facts); they too raise the serial,
    so other processes learn what is fresh."""


class Changeset:
    """Change-log rows of one transaction; :meth:`finish` commits them under one new serial."""

    def __init__(self, conn: Connection, *, actor: str, reason: str) -> None:
        self.conn = conn
        # FOR UPDATE: on PostgreSQL two writers must not both take serial + 1 (SQLite engines
        # already hold the write lock from BEGIN IMMEDIATE).
        current = conn.execute(select(twin_meta.c.serial).with_for_update()).scalar_one()
        self.serial = int(current) + 1
        self.id = uuid.uuid4().hex[:16]
        self.actor = actor
        self.reason = reason
        self.at = utcnow()
        self.raw = RawSQL(conn)
        self._at = self.raw.dt(self.at)
        self.rows: list[tuple[Any, ...]] = []
        self._seen: dict[datetime, list[str]] = {}

    def note(self, key: str, op: str, before: Entity | None, after: Entity | None) -> None:
        """Record an entity change."""
        js = self.raw.entity_json
        self.rows.append(
            (
                self.serial,
                self.id,
                key,
                op,
                js(before) if before is not None else None,
                js(after) if after is not None else None,
                self.actor,
                self.reason,
                self._at,
            )
        )

    def note_rel(self, rel: Relation, op: str) -> None:
        """Record a relation added (``relate``) or removed (``unrelate``)."""
        body = rel.model_dump_json()
        key = f"{rel.src}|{rel.type.value}|{rel.dst}"
        self._add(key, op, body if op == "unrelate" else None, body if op == "relate" else None)

    def seen(self, entity_id: str, at: datetime) -> None:
        """Record that a source confirmed an entity at ``at`` without changing a fact."""
        self._seen.setdefault(at, []).append(entity_id)

    def _add(self, key: str, op: str, before: str | None, after: str | None) -> None:
        # a tuple in LOG_COLS order, written by RawSQL (see there for why)
        self.rows.append(
            (self.serial, self.id, key, op, before, after, self.actor, self.reason, self._at)
        )

    def finish(
        self, touched: int, rejections: list[Rejection], *, tombstoned: int = 0
    ) -> ApplyResult:
        """Write the log and raise the serial if anything changed; the result either way."""
        changed = len(self.rows)
        seen = 0
        # Confirmations are compact: one row per distinct time and 5,000 ids, not one per entity,
        # because a quiet full sync confirms the whole estate.
        for at, ids in sorted(self._seen.items()):
            seen += len(ids)
            for part in iter_chunks(ids, 5000):
                self._add(
                    f"{len(part)} entities",
                    "seen",
                    None,
                    json.dumps({"last_seen": at.isoformat(), "ids": part}),
                )
        if not self.rows:
            return ApplyResult(self.serial - 1, self.id, 0, touched, rejections, tombstoned)
        self.raw.insert(change_log.name, LOG_COLS, self.rows)
        self.conn.execute(update(twin_meta).values(serial=self.serial))
        return ApplyResult(self.serial, self.id, changed, touched, rejections, tombstoned, seen)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk operation allocates.

    A process that holds a 100,000-entity twin has over a million long-lived objects; a bulk
    load or a large change-set allocates enough to trigger full collections that scan them all,
    which costs more than the work itself. Reference counting still frees everything acyclic.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
