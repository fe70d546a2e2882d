"""Property tests of the store: reload, catch-up by serial and idempotent ingest (SQLite + PG)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from twin._schema import change_log, entity_table, observation_table, relation_table, twin_meta
from twin.graph import TwinGraph
from twin.ingest import IngestBatch, TwinEvent
from twin.model import EdgeType, Entity, NodeKind, Relation
from twin.store import TwinStore

BASE = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
IDS = {
    **{f"host:h{i}": NodeKind.HOST for i in range(4)},
    **{f"service:s{i}": NodeKind.SERVICE for i in range(4)},
    **{f"segment:g{i}": NodeKind.SEGMENT for i in range(2)},
}
EDGES = [
    *[
        (s, EdgeType.RUNS_ON, h)
        for s in IDS
        if s.startswith("service")
        for h in IDS
        if h.startswith("host")
    ],
    *[
        (a, EdgeType.DEPENDS_ON, b)
        for a in IDS
        if a.startswith("service")
        for b in IDS
        if b.startswith("service") and a != b
    ],
    *[
        (h, EdgeType.ATTACHED_TO, g)
        for h in IDS
        if h.startswith("host")
        for g in IDS
        if g.startswith("segment")
    ],
]
PROPS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

attrs_st = st.fixed_dictionaries(
    {},
    optional={
        "env": st.sampled_from(["dev", "prod"]),
        "pending_reboot": st.booleans(),
        "n": st.integers(0, 3),
    },
)


@st.composite
def raw_entity(draw: st.DrawFn) -> dict[str, Any]:
    eid = draw(st.sampled_from(sorted(IDS)))
    name = eid.split(":", 1)[1] + draw(st.sampled_from(["", "-renamed"]))
    return {"id": eid, "kind": IDS[eid].value, "name": name, "attrs": draw(attrs_st)}


def raw_relation() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(EDGES).map(lambda e: {"src": e[0], "type": e[1].value, "dst": e[2]})


@st.composite
def operation(draw: st.DrawFn, at: datetime) -> IngestBatch | TwinEvent:
    source = draw(st.sampled_from(["cmdb", "rmm"]))
    kind = draw(st.sampled_from(["batch", "batch", "full", "remove", "unrelate"]))
    if kind == "remove":
        return TwinEvent(
            op="remove", source=source, observed_at=at, entity_id=draw(st.sampled_from(sorted(IDS)))
        )
    if kind == "unrelate":
        return TwinEvent(
            op="unrelate", source=source, observed_at=at, relation=draw(raw_relation())
        )
    return IngestBatch(
        source=source,
        observed_at=at,
        full_sync=kind == "full",
        entities=draw(st.lists(raw_entity(), max_size=6)),
        relations=draw(st.lists(raw_relation(), max_size=6)),
    )


@st.composite
def operations(draw: st.DrawFn) -> list[IngestBatch | TwinEvent]:
    at, ops = BASE, []
    for _ in range(draw(st.integers(1, 6))):
        at += timedelta(minutes=draw(st.integers(0, 50)))
        ops.append(draw(operation(at)))
    return ops


def _fresh(engine: Engine) -> TwinStore:
    """An empty twin in the fixture's database (hypothesis reuses it across examples)."""
    with engine.begin() as conn:
        for t in (change_log, observation_table, relation_table, entity_table, twin_meta):
            conn.execute(t.delete())
        conn.execute(twin_meta.insert().values(id=1, lineage=uuid.uuid4().hex, serial=0))
    return TwinStore(engine, grace=timedelta(minutes=30), source_priority=("cmdb", "rmm"))


def _run(store: TwinStore, op: IngestBatch | TwinEvent) -> Any:
    return store.apply(op) if isinstance(op, IngestBatch) else store.apply_event(op)


def snapshot(g: TwinGraph) -> tuple[dict[str, tuple[Any, ...]], set[tuple[str, str, str]]]:
    ents = {
        e.id: (
            e.kind,
            e.name,
            json.dumps(e.attrs, sort_keys=True),
            e.source,
            e.source_ref,
            e.first_seen,
            e.last_seen,
            e.version,
            e.active,
        )
        for e in g.entities()
    }
    return ents, {(r.src, r.type.value, r.dst) for r in g.relations()}


def _blasts(g: TwinGraph) -> dict[str, set[str]]:
    return {eid: {i.entity.id for i in g.blast_radius(eid).items} for eid in g.g.nodes}


@PROPS
@given(ops=operations())
def test_catch_up_by_serial_equals_full_reload(
    engine: Engine, ops: list[IngestBatch | TwinEvent]
) -> None:
    store = _fresh(engine)
    reader = store.load()
    for i, op in enumerate(ops):
        _run(store, op)
        if i % 2:  # catch up sometimes after one change-set, sometimes after several
            store.catch_up(reader)
    store.catch_up(reader)
    full = store.load()
    assert reader.serial == full.serial == store.meta()[1]
    assert snapshot(reader) == snapshot(full)
    # the derived indexes (kind, impact edges) agree too, not just the raw graph
    assert _blasts(reader) == _blasts(full)
    assert {k: set(v) for k, v in reader._by_kind.items()} == {
        k: set(v) for k, v in full._by_kind.items()
    }


@PROPS
@given(ops=operations())
def test_every_change_set_is_idempotent(engine: Engine, ops: list[IngestBatch | TwinEvent]) -> None:
    store = _fresh(engine)
    for op in ops:
        _run(store, op)
        serial = store.meta()[1]
        before = snapshot(store.load())
        again = _run(store, op)
        assert again.changed == 0
        assert store.meta()[1] == serial
        assert snapshot(store.load()) == before


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Entity], list[Relation]]:
    ids = draw(st.lists(st.sampled_from(sorted(IDS)), unique=True, min_size=1))
    times = st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    )
    ents = []
    for eid in ids:
        first = draw(times)
        ents.append(
            Entity(
                id=eid,
                kind=IDS[eid],
                name=eid.split(":")[1],
                source="cmdb",
                source_ref=draw(st.text("abc123", max_size=5)),
                attrs=draw(attrs_st),
                first_seen=first,
                last_seen=first + timedelta(seconds=draw(st.integers(0, 10**6))),
            )
        )
    present = set(ids)
    rels = [
        Relation(src=s, type=t, dst=d, source="cmdb")
        for s, t, d in draw(st.lists(st.sampled_from(EDGES), unique=True))
        if s in present and d in present
    ]
    return ents, rels


@PROPS
@given(data=graphs())
def test_persisted_twin_reloads_to_an_identical_graph(
    engine: Engine, data: tuple[list[Entity], list[Relation]]
) -> None:
    ents, rels = data
    mine = TwinGraph()
    for e in ents:
        mine.put_entity(e)
    for r in rels:
        mine.put_relation(r)
    store = _fresh(engine)
    res = store.apply(IngestBatch(source="cmdb", entities=ents, relations=rels))
    assert res.rejections == []
    loaded = store.load()
    assert snapshot(loaded) == snapshot(mine)
    assert _blasts(loaded) == _blasts(mine)
    assert loaded.serial == 1 and store.load().serial == 1
