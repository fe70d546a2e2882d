"""A topology sync over the simulated sources: the twin learns topology with visible gaps."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from adapters.topology import (
    SimTopology,
    TopoLink,
    TopoRecord,
    sim_topology_sources,
    sync_topology,
    without_topology,
)
from twin.ingest import IngestBatch
from twin.model import EdgeType, NodeKind
from twin.sample import generate_estate
from twin.store import TwinStore


def _store(engine: Engine) -> tuple[TwinStore, object]:
    est = generate_estate(endpoints=300, seed=3)
    store = TwinStore(engine)
    store.create()
    ents, rels = without_topology(est.entities, est.relations)
    assert not store.apply(IngestBatch(source="rmm", entities=ents, relations=rels)).rejections
    return store, est


def test_sync_builds_topology_from_sources_and_marks_the_gaps(engine: Engine) -> None:
    store, est = _store(engine)
    before = store.load()
    assert not list(before.entities(NodeKind.SERVICE))  # the inventory alone has no topology
    sources = sim_topology_sources(est.entities, est.relations, now=est.now, clock=lambda: est.now)
    assert [s.source for s in sources] == ["vcenter", "proxmox", "netbox", "cmdb", "telemetry"]
    out = sync_topology(store, sources, now=est.now)
    assert not out.failed and {r.source for r in out.reports} == {s.source for s in sources}
    g = store.load()
    truth = {(r.src, r.type, r.dst) for r in est.relations if r.type == EdgeType.RUNS_ON}
    learned = {(r.src, r.type, r.dst) for r in g.relations() if r.type == EdgeType.RUNS_ON}
    assert learned and len(learned & truth) >= 0.6 * len(truth)
    levels = set(out.coverage.values())
    assert "full" in levels and "partial" in levels  # the CMDB's gaps show as coverage
    for eid, level in out.coverage.items():
        assert g.get(eid).attrs["coverage"] == level
    endpoint = next(e for e in g.entities(NodeKind.HOST) if e.attrs.get("role") == "endpoint")
    assert endpoint.attrs["coverage"] == "full"  # a workstation: nothing runs on it


def test_g3_sync_reports_learned_relations_aged_out(engine: Engine) -> None:
    store, est = _store(engine)
    recs = [TopoRecord(ref=n, kind=NodeKind.SERVICE, name=n) for n in ("shop", "payments")]
    link = TopoLink(src="shop", type=EdgeType.DEPENDS_ON, dst="payments", attrs={"rate": 3.0})
    t0 = est.now
    tele = SimTopology("telemetry", recs, [link], clock=lambda: t0)
    sync_topology(store, [tele], now=t0)
    assert ("service:shop", EdgeType.DEPENDS_ON, "service:payments") in {
        (r.src, r.type, r.dst) for r in store.load().relations()
    }
    # the call path stops: the next reads see the services but no calls
    quiet = SimTopology("telemetry", recs, [], clock=lambda: t0 + timedelta(days=3))
    out = sync_topology(store, [quiet], now=t0 + timedelta(days=3))
    # a complete read that no longer states it withdraws the claim at once (the source's word)
    assert not out.aged
    assert "service:payments" not in [d for _, d in store.load().out_edges("service:shop")]
    # a source that is down keeps its claims; they age out once unseen for the TTL
    sync_topology(store, [tele], now=t0)
    later = t0 + timedelta(days=8)
    out = sync_topology(store, [], now=later, learned_ttl=timedelta(days=7))
    assert [(c.src, c.dst) for c in out.aged] == [("service:shop", "service:payments")]
    assert store.load().out_edges("service:shop") == []
