"""Reading the whole twin into memory, fast.

At 100,000 entities and 400,000 relations the generic paths (ORM-style row objects, pydantic
validation, ``add_node``/``add_edge``) cost several times the database read itself, so this
module streams plain tuples and builds entities and adjacency dicts directly. The rows were
validated when they were written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from twin._changeset import no_gc
from twin._schema import entity_table, relation_table, twin_meta
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind

__all__ = ["read_graph"]

_BATCH = 5000
_SHORT = 40


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _interned(attrs: dict[str, Any], pool: dict[str, str]) -> dict[str, Any]:
    # The JSON decoder makes fresh key and value strings for every row: 100,000 copies of
    # "client", "contoso", "prod" ... Sharing one object per distinct short string saves about
    # a sixth of the twin's memory.
    out = {}
    for k, v in attrs.items():
        short = type(v) is str and len(v) <= _SHORT
        out[pool.setdefault(k, k)] = pool.setdefault(v, v) if short else v
    return out


def _entities(conn: Any, progress: Callable[[int], None] | None) -> Iterator[Entity]:
    kinds = {k.value: k for k in NodeKind}
    pool: dict[str, str] = {}
    new = Entity.__new__
    setattr_ = object.__setattr__
    cols = entity_table.c
    res = conn.execution_options(yield_per=_BATCH).execute(
        select(
            cols.id,
            cols.kind,
            cols.name,
            cols.attrs,
            cols.source,
            cols.source_ref,
            cols.first_seen,
            cols.last_seen,
            cols.version,
            cols.active,
        )
    )
    fields_set = set(Entity.model_fields)
    for part in res.partitions():
        for eid, kind, name, attrs, source, ref, first, last, version, active in part:
            # what model_construct does, minus its per-call field bookkeeping
            e = new(Entity)
            setattr_(
                e,
                "__dict__",
                {
                    "id": eid,
                    "kind": kinds[kind],
                    "name": name,
                    "attrs": _interned(attrs, pool),
                    "source": pool.setdefault(source, source),
                    "source_ref": ref,
                    "first_seen": _aware(first),
                    "last_seen": _aware(last),
                    "version": version,
                    "active": bool(active),
                },
            )
            setattr_(e, "__pydantic_fields_set__", fields_set)
            setattr_(e, "__pydantic_extra__", None)
            setattr_(e, "__pydantic_private__", None)
            yield e
        if progress:
            progress(len(part))


def _edges(conn: Any, progress: Callable[[int], None] | None) -> Iterator[tuple[str, str, str]]:
    cols = relation_table.c
    res = conn.execution_options(yield_per=_BATCH * 4).execute(
        select(cols.src, cols.type, cols.dst)
    )
    for part in res.partitions():
        yield from part
        if progress:
            progress(len(part))


def read_graph(engine: Engine, *, progress: Callable[[int], None] | None = None) -> TwinGraph:
    """The twin as stored: every entity (tombstoned ones too) and every relation.

    Reads run in one transaction so the graph and its serial describe the same moment.
    """
    graph = TwinGraph()
    # A million new long-lived objects would trigger the cyclic collector dozens of times, each
    # pass scanning everything built so far: that more than doubles the load time.
    with no_gc(), engine.connect() as conn, conn.begin():
        row = conn.execute(select(twin_meta.c.lineage, twin_meta.c.serial)).one()
        graph.lineage, graph.serial = str(row.lineage), int(row.serial)
        graph.bulk_load(_entities(conn, progress), _edges(conn, progress))
    return graph
