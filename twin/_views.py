"""Source views and the entities merged from them: the entity half of a change-set's writes.

Each source keeps its own view of an entity (a ``twin_observation`` row); the entity the twin
shows is those views merged by source priority (:func:`twin._entities.merge_views`).
:func:`write_views` records a batch's views and re-merges; :func:`drop_observations` forgets a
source's views and tombstones what no source observes any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, select

from twin._changeset import Changeset
from twin._entities import ent_row, merge_views, row_ent, same_facts, same_view, with_changes
from twin._rawsql import ENTITY_COLS, OBS_COLS
from twin._schema import entity_table, observation_table
from twin.ingest import Rejection, iter_chunks
from twin.model import Entity

__all__ = ["DERIVED_SOURCES", "drop_observations", "write_views"]

_CHUNK = 2000
DERIVED_SOURCES = frozenset({"topology"})
"""Sources whose views are derived from the others' (``twin.coverage``): they keep nothing alive."""


def write_views(
    source: str,
    chunk: list[Entity],
    cs: Changeset,
    rank: Callable[[str], Any],
    *,
    drop_stale: bool,
) -> list[Rejection]:
    """Write ``source``'s views of the chunk and the merged entities; returns kind conflicts.

    The batch's source is the observer: a record's own ``source`` field (the sample estate
    labels records ``rmm``, ``cmdb`` ... inside one ``sample`` batch) is replaced by it, so
    a later real ``rmm`` sync adds its view beside the seed's instead of erasing it.

    Two reads (one ``IN`` query per table) and at most one statement per kind of write for
    the chunk, all through :class:`twin._rawsql.RawSQL`.
    """
    raw = cs.raw
    raw.forget()
    ids = [e.id for e in chunk]
    current = raw.entities(ids)
    views = raw.views(ids)
    put_e: list[tuple[Any, ...]] = []
    upd_e: list[tuple[Any, ...]] = []
    put_o: list[tuple[Any, ...]] = []
    touch_e: list[tuple[Any, ...]] = []
    touch_o: list[tuple[Any, ...]] = []
    refused: list[Rejection] = []
    o_row, e_row, e_upd, dt = raw.obs_row, raw.entity_row, raw.entity_update, raw.dt
    note = cs.note
    for e in chunk:
        if e.source != source:
            e = with_changes(e, source=source)  # noqa: PLW2901
        eid = e.id
        old = current.get(eid)
        if old is not None and old.kind != e.kind:
            refused.append(
                Rejection(eid, "kind", f"the twin knows it as a {old.kind}, not a {e.kind}")
            )
            continue
        seen = views.get(eid, {})
        if not seen and old is not None and old.active and old.source != source:
            # an entity stored before observations existed: its row is its source's view
            seen = {old.source: old}
            put_o.append(o_row(old))
        prev = seen.get(source)
        if prev is not None and drop_stale and e.last_seen < prev.last_seen:
            continue
        if prev is None:
            view = e
            put_o.append(o_row(e))
        elif not same_view(prev, e):
            view = with_changes(e, first_seen=prev.first_seen)
            put_o.append(o_row(view))
        else:
            view = prev
            if e.last_seen > prev.last_seen:
                view = with_changes(prev, last_seen=e.last_seen)
                touch_o.append((dt(e.last_seen), eid, source))
        seen = {**seen, source: view}
        eff = merge_views(seen, rank, old)
        if old is None:
            put_e.append(e_row(eff))
            note(eid, "upsert", None, eff)
        elif not same_facts(old, eff):
            if old.name == eff.name and old.kind == eff.kind:
                # an UPDATE that leaves the kind and name columns, so SQLite leaves
                # their indexes alone
                upd_e.append(e_upd(eff))
            else:
                put_e.append(e_row(eff))
            note(eid, "upsert", old, eff)
        elif eff.last_seen > old.last_seen:
            touch_e.append((dt(eff.last_seen), eid))
            cs.seen(eid, eff.last_seen)
    # ON CONFLICT ... DO UPDATE (SQLite >= 3.24 and PostgreSQL alike): new and changed rows
    # in one statement, updated in place
    raw.insert(observation_table.name, OBS_COLS, put_o, upsert_on=("entity_id", "source"))
    raw.execute_many(
        "UPDATE twin_observation SET last_seen = {m} WHERE entity_id = {m} AND source = {m}",
        touch_o,
    )
    raw.insert(entity_table.name, ENTITY_COLS, put_e, upsert_on=("id",))
    raw.execute_many(raw.ENTITY_UPDATE, upd_e)
    raw.execute_many("UPDATE twin_entity SET last_seen = {m} WHERE id = {m}", touch_e)
    return refused


def drop_observations(
    conn: Connection, source: str, ids: list[str], cs: Changeset, rank: Callable[[str], Any]
) -> int:
    """Forget ``source``'s view of ``ids``; tombstone those no source observes any more.

    Returns how many entities were tombstoned.
    """
    tomb = 0
    for chunk in iter_chunks(ids, _CHUNK):
        cs.raw.forget()  # the memos serve one chunk
        conn.execute(
            observation_table.delete().where(
                and_(
                    observation_table.c.source == source,
                    observation_table.c.entity_id.in_(chunk),
                )
            )
        )
        current = {
            r.id: row_ent(r)
            for r in conn.execute(select(entity_table).where(entity_table.c.id.in_(chunk)))
        }
        views: dict[str, dict[str, Entity]] = {}
        for r in conn.execute(
            select(observation_table).where(observation_table.c.entity_id.in_(chunk))
        ):
            views.setdefault(r.entity_id, {})[r.source] = row_ent(r, obs=True)
        rows = []
        for eid in chunk:
            old = current.get(eid)
            if old is None:
                continue
            left = views.get(eid)
            if left and set(left) <= DERIVED_SOURCES:
                # only derived views (coverage) are left: no source observes it any more
                left = None
            if left:
                new = merge_views(left, rank, old)
                if same_facts(old, new):
                    continue
                cs.note(eid, "upsert", old, new)
            elif old.active:
                new = with_changes(old, active=False, version=old.version + 1)
                cs.note(eid, "tombstone", old, new)
                tomb += 1
            else:
                continue
            rows.append(ent_row(new))
        if rows:
            conn.execute(
                entity_table.delete().where(entity_table.c.id.in_([r["id"] for r in rows]))
            )
            conn.execute(entity_table.insert(), rows)
    return tomb
