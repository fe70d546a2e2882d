"""Persistence of the twin: entities, relations, the change log and the serial.

Every committed change-set that alters anything raises ``twin_meta.serial`` by one and writes one
change-log row per entity or relation touched, with its before/after image, the actor and the
reason. Processes that share the database keep their in-memory graph current by replaying the
change log past their serial (:meth:`TwinStore.catch_up`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    and_,
    select,
    update,
)

from twin.db import metadata
from twin.graph import TwinGraph
from twin.ingest import IngestBatch, Rejection, iter_chunks, validate_batch
from twin.model import EdgeType, Entity, NodeKind, Relation, utcnow

__all__ = ["ApplyResult", "TwinStore", "change_log", "entity_table", "relation_table"]

twin_meta = Table(
    "twin_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lineage", String(64), nullable=False),
    Column("serial", Integer, nullable=False),
)

entity_table = Table(
    "twin_entity",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("name", String(255), nullable=False, index=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("source_ref", String(255), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
)

relation_table = Table(
    "twin_relation",
    metadata,
    Column("src", String(255), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("dst", String(255), primary_key=True, index=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
)

change_log = Table(
    "twin_change",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serial", Integer, nullable=False, index=True),
    Column("changeset_id", String(64), nullable=False),
    Column("key", String(600), nullable=False),
    Column("op", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("actor", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

_CHUNK = 2000
DEFAULT_GRACE = timedelta(hours=24)


def _ent_row(e: Entity) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind.value,
        "name": e.name,
        "attrs": e.attrs,
        "source": e.source,
        "source_ref": e.source_ref,
        "first_seen": e.first_seen,
        "last_seen": e.last_seen,
        "version": e.version,
        "active": e.active,
    }


def _aware(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; we only ever store UTC.
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _row_ent(r: Any) -> Entity:
    return Entity.model_construct(
        id=r.id,
        kind=NodeKind(r.kind),
        name=r.name,
        attrs=r.attrs,
        source=r.source,
        source_ref=r.source_ref,
        first_seen=_aware(r.first_seen),
        last_seen=_aware(r.last_seen),
        version=r.version,
        active=r.active,
    )


def _facts(e: Entity) -> tuple[Any, ...]:
    """The parts of an entity whose change counts as a change (not last_seen, not version)."""
    return (
        e.kind,
        e.name,
        json.dumps(e.attrs, sort_keys=True, default=str),
        e.source,
        e.source_ref,
        e.active,
    )


def _ent_json(e: Entity) -> str:
    return e.model_dump_json()


@dataclass(frozen=True)
class ApplyResult:
    """What a change-set did."""

    serial: int
    changeset_id: str
    changed: int
    touched: int
    rejections: list[Rejection] = field(default_factory=list)
    tombstoned: int = 0


class TwinStore:
    """Reads and writes the twin in one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, grace: timedelta = DEFAULT_GRACE) -> None:
        self.engine = engine
        self.grace = grace

    def create(self) -> None:
        """Create tables if missing and the meta row (with a new lineage) if absent."""
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(select(twin_meta.c.id)).first() is None:
                conn.execute(twin_meta.insert().values(id=1, lineage=uuid.uuid4().hex, serial=0))

    def meta(self) -> tuple[str, int]:
        """(lineage, serial)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(twin_meta.c.lineage, twin_meta.c.serial)).one()
        return str(row.lineage), int(row.serial)

    # ------------------------------------------------------------------ writes
    def apply(
        self,
        batch: IngestBatch,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> ApplyResult:
        """Validate and commit one change-set; raises the serial only when something changed."""
        with self.engine.begin() as conn:
            known_kinds = self._kind_lookup(conn, batch)
            vb = validate_batch(batch, known_kinds)
            serial = int(conn.execute(select(twin_meta.c.serial)).scalar_one()) + 1
            csid = uuid.uuid4().hex[:16]
            now = utcnow()
            log: list[dict[str, Any]] = []

            def note(key: str, op: str, before: str | None, after: str | None) -> None:
                log.append(
                    {
                        "serial": serial,
                        "changeset_id": csid,
                        "key": key,
                        "op": op,
                        "before": before,
                        "after": after,
                        "actor": batch.actor,
                        "reason": batch.reason or f"{batch.source} ingest",
                        "at": now,
                    }
                )

            changed = 0
            for chunk in iter_chunks(vb.entities, _CHUNK):
                current = {
                    r.id: _row_ent(r)
                    for r in conn.execute(
                        select(entity_table).where(entity_table.c.id.in_([e.id for e in chunk]))
                    )
                }
                inserts, updates, touches = [], [], []
                for e in chunk:
                    old = current.get(e.id)
                    if old is None:
                        new = e.model_copy(update={"version": 1, "active": True})
                        inserts.append(_ent_row(new))
                        note(e.id, "upsert", None, _ent_json(new))
                    elif _facts(old) != _facts(e.model_copy(update={"active": True})):
                        new = e.model_copy(
                            update={
                                "version": old.version + 1,
                                "first_seen": old.first_seen,
                                "active": True,
                            }
                        )
                        updates.append(_ent_row(new))
                        note(e.id, "upsert", _ent_json(old), _ent_json(new))
                    elif e.last_seen > old.last_seen:
                        touches.append({"b_id": e.id, "b_seen": e.last_seen})
                changed += len(inserts) + len(updates)
                if inserts:
                    conn.execute(entity_table.insert(), inserts)
                for row in updates:
                    conn.execute(
                        update(entity_table).where(entity_table.c.id == row["id"]).values(**row)
                    )
                if touches:
                    from sqlalchemy import bindparam

                    conn.execute(
                        update(entity_table)
                        .where(entity_table.c.id == bindparam("b_id"))
                        .values(last_seen=bindparam("b_seen")),
                        touches,
                    )
                if progress:
                    progress(len(chunk))
            for chunk in iter_chunks(vb.relations, _CHUNK):
                existing = set()
                for r in conn.execute(
                    select(relation_table.c.src, relation_table.c.type, relation_table.c.dst).where(
                        relation_table.c.src.in_({x.src for x in chunk})
                    )
                ):
                    existing.add((r.src, r.type, r.dst))
                fresh = [x for x in chunk if (x.src, x.type.value, x.dst) not in existing]
                seen: set[tuple[str, str, str]] = set()
                rows = []
                for x in fresh:
                    k = (x.src, x.type.value, x.dst)
                    if k in seen:
                        continue
                    seen.add(k)
                    rows.append(
                        {
                            "src": x.src,
                            "type": x.type.value,
                            "dst": x.dst,
                            "attrs": x.attrs,
                            "source": x.source,
                        }
                    )
                    note(f"{x.src}|{x.type.value}|{x.dst}", "relate", None, x.model_dump_json())
                if rows:
                    conn.execute(relation_table.insert(), rows)
                changed += len(rows)
                if progress:
                    progress(len(chunk))
            tomb = (
                self._tombstone(conn, batch, {e.id for e in vb.entities}, note)
                if batch.full_sync
                else 0
            )
            changed += tomb
            if changed:
                for chunk in iter_chunks(log, _CHUNK):
                    conn.execute(change_log.insert(), chunk)
                conn.execute(update(twin_meta).values(serial=serial))
            else:
                serial -= 1
        return ApplyResult(
            serial, csid, changed, len(vb.entities) + len(vb.relations), vb.rejections, tomb
        )

    def _kind_lookup(
        self, conn: Connection, batch: IngestBatch
    ) -> Callable[[str], NodeKind | None]:
        refs: set[str] = set()
        for r in batch.relations:
            if isinstance(r, Relation):
                refs.update((r.src, r.dst))
            else:
                refs.update(str(r.get(k, "")) for k in ("src", "dst"))
        known: dict[str, NodeKind] = {}
        for chunk in iter_chunks(sorted(refs), _CHUNK):
            for row in conn.execute(
                select(entity_table.c.id, entity_table.c.kind).where(entity_table.c.id.in_(chunk))
            ):
                known[row.id] = NodeKind(row.kind)
        return known.get

    def _tombstone(
        self,
        conn: Connection,
        batch: IngestBatch,
        reported: set[str],
        note: Callable[[str, str, str | None, str | None], None],
    ) -> int:
        cutoff = batch.observed_at - self.grace
        rows = conn.execute(
            select(entity_table).where(
                and_(entity_table.c.source == batch.source, entity_table.c.active.is_(True))
            )
        ).all()
        gone = [_row_ent(r) for r in rows if r.id not in reported and _aware(r.last_seen) < cutoff]
        for old in gone:
            new = old.model_copy(update={"active": False, "version": old.version + 1})
            conn.execute(
                update(entity_table)
                .where(entity_table.c.id == old.id)
                .values(active=False, version=new.version)
            )
            note(old.id, "tombstone", _ent_json(old), _ent_json(new))
        return len(gone)

    def set_attrs(
        self,
        entity_id: str,
        attrs: dict[str, Any],
        *,
        actor: str,
        reason: str,
        source: str | None = None,
    ) -> ApplyResult:
        """Merge ``attrs`` into one entity (an observation with provenance)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(entity_table).where(entity_table.c.id == entity_id)).one()
        old = _row_ent(row)
        new = old.model_copy(
            update={
                "attrs": {**old.attrs, **attrs},
                "last_seen": utcnow(),
                "source": source or old.source,
            }
        )
        return self.apply(
            IngestBatch(source=new.source, entities=[new], actor=actor, reason=reason)
        )

    # ------------------------------------------------------------------ reads
    def load(self, *, progress: Callable[[int], None] | None = None) -> TwinGraph:
        """Build the in-memory graph from the database."""
        graph = TwinGraph()
        with self.engine.connect() as conn:
            graph.lineage, graph.serial = (lambda r: (str(r[0]), int(r[1])))(
                conn.execute(select(twin_meta.c.lineage, twin_meta.c.serial)).one()
            )
            res = conn.execution_options(yield_per=5000).execute(select(entity_table))
            n = 0
            for r in res:
                graph.put_entity(_row_ent(r))
                n += 1
                if progress and n % 5000 == 0:
                    progress(5000)
            res = conn.execution_options(yield_per=5000).execute(
                select(relation_table.c.src, relation_table.c.type, relation_table.c.dst)
            )
            g = graph.g
            for r in res:
                data = g.get_edge_data(r.src, r.dst)
                t = EdgeType(r.type)
                if data is None:
                    g.add_edge(r.src, r.dst, types=frozenset({t}))
                else:
                    data["types"] = data["types"] | {t}
        return graph

    def changes_since(self, serial: int) -> Iterator[Any]:
        """Change-log rows with a serial above ``serial``, in commit order."""
        with self.engine.connect() as conn:
            yield from conn.execute(
                select(change_log).where(change_log.c.serial > serial).order_by(change_log.c.id)
            ).all()

    def catch_up(self, graph: TwinGraph) -> int:
        """Apply the change log past ``graph.serial``; returns how many changes were applied."""
        n = 0
        for row in self.changes_since(graph.serial):
            if row.op in ("upsert", "tombstone"):
                graph.put_entity(Entity.model_validate_json(row.after))
            elif row.op == "relate":
                graph.put_relation(Relation.model_validate_json(row.after))
            elif row.op == "unrelate":
                rel = Relation.model_validate_json(row.before)
                graph.remove_relation(rel.src, rel.type, rel.dst)
            graph.serial = max(graph.serial, int(row.serial))
            n += 1
        _, graph.serial = self.meta() if n == 0 else (graph.lineage, graph.serial)
        return n
