"""Persistence of the twin: entities, per-source observations, relations, change log, serial.

Every committed change-set that alters anything raises ``twin_meta.serial`` by one and writes one
change-log row per entity or relation touched, with its before/after image, the actor and the
reason. Processes that share the database keep their in-memory graph current by replaying the
change log past their serial (:meth:`TwinStore.catch_up`).

Each source's last view of an entity is kept in ``twin_observation``; the entity itself holds the
merge of those views, attribute by attribute, the higher-priority source winning where they
disagree (``source_priority``, lowest first). Both views stay readable
(:meth:`TwinStore.observations`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select, tuple_

from twin._changeset import ApplyResult, Changeset, no_gc
from twin._entities import aware, row_ent, with_changes
from twin._schema import (
    change_log,
    entity_table,
    observation_table,
    relation_table,
    twin_meta,
)
from twin._views import drop_observations, write_views
from twin.db import metadata
from twin.graph import TwinGraph
from twin.ingest import IngestBatch, Rejection, TwinEvent, iter_chunks, validate_batch
from twin.model import EdgeType, Entity, NodeKind, Relation, utcnow
from twin.provenance import (
    DEFAULT_LEARNED_TTL,
    Claim,
    expired_claims,
    record,
    retire,
    source_claims,
)

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_SOURCE_PRIORITY",
    "ApplyResult",
    "TwinStore",
    "change_log",
    "entity_table",
    "observation_table",
    "relation_table",
    "twin_meta",
]

_CHUNK = 2000
DEFAULT_GRACE = timedelta(hours=24)
"""How long an entity a full sync no longer reports keeps its observation before it goes."""
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = (
    "sample",
    "telemetry",
    "netbox",
    "vcenter",
    "proxmox",
    "cmdb",
    "catalog",
    "psa",
    "siem",
    "backup",
    "firewall",
    "rmm",
    "identity",
    "topology",
)
"""Lowest first: where two sources disagree on an attribute, the later one here wins. Sources
not listed rank below all listed ones. ``topology`` (coverage, and the cautious ``env`` where
sources disagree: :mod:`twin.coverage`) ranks above every source it was derived from."""


class TwinStore:
    """Reads and writes the twin in one database (SQLite or PostgreSQL).

    Args:
        engine: from :func:`twin.db.make_engine`; the schema comes from :func:`twin.db.migrate`
            (or :meth:`create`, which also adds the meta row).
        grace: how long a full sync may miss an entity before its observation is dropped.
        source_priority: source names, lowest priority first.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        grace: timedelta = DEFAULT_GRACE,
        source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
    ) -> None:
        self.engine = engine
        self.grace = grace
        self.source_priority = tuple(source_priority)
        ranks = {s: i for i, s in enumerate(self.source_priority)}
        self._rank: Callable[[str], tuple[int, str]] = lambda s: (ranks.get(s, -1), s)

    def create(self) -> None:
        """Create tables if missing and the meta row (with a new lineage) if absent.

        Production databases get their schema from :func:`twin.db.migrate` first (then this
        only adds the meta row); ``create_all`` here keeps tests and scratch twins one call.
        """
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
        """Validate and commit one change-set; raises the serial only when something changed.

        Bad records come back in ``rejections``; the rest lands. Applying the same batch twice
        changes nothing the second time.
        """
        return self._apply(batch, progress=progress, drop_stale=False)

    def apply_event(self, event: TwinEvent) -> ApplyResult:
        """Commit one streamed update (see :class:`twin.ingest.TwinEvent`)."""
        if event.op in ("upsert", "relate"):
            batch = IngestBatch(
                source=event.source,
                entities=[event.entity] if event.op == "upsert" and event.entity else [],
                relations=[event.relation] if event.op == "relate" and event.relation else [],
                observed_at=event.observed_at,
                actor=event.actor,
                reason=event.reason,
            )
            missing = event.entity is None if event.op == "upsert" else event.relation is None
            if missing:
                what = "entity" if event.op == "upsert" else "relation"
                return ApplyResult(
                    self.meta()[1], "", 0, 0, [Rejection(f"{event.op} event", what, "missing")]
                )
            return self._apply(batch, progress=None, drop_stale=True)
        with self.engine.begin() as conn:
            cs = Changeset(conn, actor=event.actor, reason=event.reason or f"{event.source} event")
            if event.op == "remove":
                exists = conn.execute(
                    select(observation_table.c.entity_id).where(
                        and_(
                            observation_table.c.entity_id == event.entity_id,
                            observation_table.c.source == event.source,
                        )
                    )
                ).first()
                if exists is None:
                    return cs.finish(
                        0,
                        [
                            Rejection(
                                event.entity_id or "remove event",
                                "entity_id",
                                f"no observation of this entity by source '{event.source}'",
                            )
                        ],
                    )
                dropped = drop_observations(conn, event.source, [event.entity_id], cs, self._rank)
                return cs.finish(1, [], tombstoned=dropped)
            rel = event.relation
            if rel is None:
                return cs.finish(0, [Rejection("unrelate event", "relation", "missing")])
            if not isinstance(rel, Relation):
                try:
                    rel = Relation.model_validate({"source": event.source, **dict(rel)})
                except ValueError as exc:
                    return cs.finish(0, [Rejection("unrelate event", "relation", str(exc))])
            self._unrelate(conn, [rel], cs, source=event.source)
            return cs.finish(1, [])

    def _apply(
        self,
        batch: IngestBatch,
        *,
        progress: Callable[[int], None] | None,
        drop_stale: bool,
    ) -> ApplyResult:
        with no_gc(), self.engine.begin() as conn:
            known = self._kinds(conn, batch)
            vb = validate_batch(batch, known.get)
            cs = Changeset(conn, actor=batch.actor, reason=batch.reason or f"{batch.source} ingest")
            rejections = list(vb.rejections)
            for chunk in iter_chunks(vb.entities, _CHUNK):
                rejections += write_views(
                    batch.source, chunk, cs, self._rank, drop_stale=drop_stale
                )
                if progress:
                    progress(len(chunk))
            for chunk in iter_chunks(vb.relations, _CHUNK):
                self._relate(conn, batch.source, chunk, cs, batch.observed_at)
                if progress:
                    progress(len(chunk))
            tomb = 0
            if batch.full_sync:
                reported = {e.id for e in vb.entities}
                self._unrelate_unreported(conn, batch.source, reported, vb.relations, cs)
                cutoff = batch.observed_at - self.grace
                gone = [
                    r.entity_id
                    for r in conn.execute(
                        select(observation_table.c.entity_id, observation_table.c.last_seen).where(
                            observation_table.c.source == batch.source
                        )
                    )
                    if r.entity_id not in reported and aware(r.last_seen) < cutoff
                ]
                tomb = drop_observations(conn, batch.source, gone, cs, self._rank)
            return cs.finish(len(vb.entities) + len(vb.relations), rejections, tombstoned=tomb)

    def _kinds(self, conn: Any, batch: IngestBatch) -> dict[str, NodeKind]:
        """Kinds of the already-known entities the batch names (for validation)."""
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
        return known

    def _relate(
        self, conn: Any, source: str, chunk: list[Relation], cs: Changeset, at: datetime
    ) -> None:
        record(conn, source, chunk, at)  # the source's claim, whether the edge is new or not
        existing = {
            (r.src, r.type, r.dst)
            for r in conn.execute(
                select(relation_table.c.src, relation_table.c.type, relation_table.c.dst).where(
                    relation_table.c.src.in_({x.src for x in chunk})
                )
            )
        }
        rows = []
        for x in chunk:
            k = (x.src, x.type.value, x.dst)
            if k in existing:
                continue
            existing.add(k)
            if x.source != source:
                x = x.model_copy(update={"source": source})  # noqa: PLW2901
            rows.append(
                {
                    "src": x.src,
                    "type": x.type.value,
                    "dst": x.dst,
                    "attrs": x.attrs,
                    "source": source,
                }
            )
            cs.note_rel(x, "relate")
        if rows:
            conn.execute(relation_table.insert(), rows)

    def _unrelate(
        self, conn: Any, rels: list[Relation], cs: Changeset, *, source: str | None = None
    ) -> None:
        """Withdraw ``source``'s claims of ``rels`` (every claim when ``None``); an edge goes
        only when no source claims it any more (the cautious reading, RELIABILITY G2)."""
        keys = retire(conn, [(r.src, r.type.value, r.dst) for r in rels], source)
        for chunk in iter_chunks(keys, _CHUNK):
            cond = tuple_(relation_table.c.src, relation_table.c.type, relation_table.c.dst).in_(
                chunk
            )
            found = conn.execute(select(relation_table).where(cond)).all()
            if found:
                conn.execute(relation_table.delete().where(cond))
            for r in found:
                cs.note_rel(
                    Relation(src=r.src, type=r.type, dst=r.dst, attrs=r.attrs, source=r.source),
                    "unrelate",
                )

    def _unrelate_unreported(
        self, conn: Any, source: str, reported: set[str], relations: list[Relation], cs: Changeset
    ) -> None:
        """A full sync that reports an entity without one of its relations withdraws its claim."""
        keep = {(r.src, r.type.value, r.dst) for r in relations}
        gone = [
            Relation(src=s, type=EdgeType(t), dst=d, source=source)
            for s, t, d in source_claims(conn, source)
            if s in reported and (s, t, d) not in keep
        ]
        self._unrelate(conn, gone, cs, source=source)

    def age_learned(
        self, *, now: datetime | None = None, ttl: timedelta = DEFAULT_LEARNED_TTL
    ) -> list[Claim]:
        """Drop learned claims not seen again within ``ttl`` (RELIABILITY G3).

        Returns:
            The claims aged out, for the sync to report; their edges went where no other
            source claims them.
        """
        now = now or utcnow()
        with self.engine.begin() as conn:
            old = expired_claims(conn, now, ttl)
            if not old:
                return []
            cs = Changeset(conn, actor="twin", reason=f"learned relations unseen for {ttl}")
            by_source: dict[str, list[Relation]] = {}
            for c in old:
                by_source.setdefault(c.source, []).append(c.relation())
            for src, rels in sorted(by_source.items()):
                self._unrelate(conn, rels, cs, source=src)
            cs.finish(len(old), [])
        return old

    def set_attrs(
        self,
        entity_id: str,
        attrs: dict[str, Any],
        *,
        actor: str,
        reason: str,
        source: str | None = None,
    ) -> ApplyResult:
        """Merge ``attrs`` into one source's view of an entity (an observation with provenance).

        ``source`` defaults to the source whose view currently leads the entity.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(entity_table).where(entity_table.c.id == entity_id)).one()
            ent = row_ent(row)
            src = source or ent.source
            orow = conn.execute(
                select(observation_table).where(
                    and_(
                        observation_table.c.entity_id == entity_id,
                        observation_table.c.source == src,
                    )
                )
            ).first()
        base = row_ent(orow, obs=True) if orow is not None else ent
        new = base.model_copy(
            update={
                "attrs": {**base.attrs, **attrs},
                "source": src,
                # never older than the view it replaces, whatever clock the estate was built with
                "last_seen": max(utcnow(), base.last_seen),
            }
        )
        return self.apply(IngestBatch(source=src, entities=[new], actor=actor, reason=reason))

    # ------------------------------------------------------------------ reads
    def observations(self, entity_id: str) -> list[Entity]:
        """Every source's last view of one entity, highest priority first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(observation_table).where(observation_table.c.entity_id == entity_id)
            ).all()
        views = [row_ent(r, obs=True) for r in rows]
        return sorted(views, key=lambda v: self._rank(v.source), reverse=True)

    def load(self, *, progress: Callable[[int], None] | None = None) -> TwinGraph:
        """Build the in-memory graph from the database (one read of each table)."""
        from twin._load import read_graph

        return read_graph(self.engine, progress=progress)

    def changes_since(self, serial: int) -> Iterator[Any]:
        """Change-log rows with a serial above ``serial``, in commit order."""
        with self.engine.connect() as conn:
            yield from conn.execute(
                # serial first: SQLite then walks the serial index (ids rise with serials, as
                # writers serialise on twin_meta); ordering by id alone scans the whole log
                select(change_log)
                .where(change_log.c.serial > serial)
                .order_by(change_log.c.serial, change_log.c.id)
            ).all()

    def catch_up(self, graph: TwinGraph) -> int:
        """Apply the change log past ``graph.serial``; returns how many changes were applied."""
        n = 0
        with no_gc():  # thousands of new entities beside a big twin: see no_gc
            for row in self.changes_since(graph.serial):
                n += self._replay(graph, row)
        return n

    @staticmethod
    def _replay(graph: TwinGraph, row: Any) -> int:
        """Apply one change-log row to ``graph``; returns 1."""
        if row.op in ("upsert", "tombstone"):
            graph.put_entity(Entity.model_validate_json(row.after))
        elif row.op == "relate":
            graph.put_relation(Relation.model_validate_json(row.after))
        elif row.op == "unrelate":
            rel = Relation.model_validate_json(row.before)
            graph.remove_relation(rel.src, rel.type, rel.dst)
        elif row.op == "seen":
            body = json.loads(row.after)
            at = datetime.fromisoformat(body["last_seen"])
            for eid in body["ids"]:
                if eid in graph and graph.get(eid).last_seen < at:
                    graph.put_entity(with_changes(graph.get(eid), last_seen=at))
        graph.serial = max(graph.serial, int(row.serial))
        return 1
