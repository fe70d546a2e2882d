"""Benchmark: the twin's topology as the estate's own sources give it, against ground truth.

The sample generator is the ground truth. The twin is built the way a real installation builds
it: the non-topology inventory (RMM, identity, firewall, backup, PSA) plus a topology sync over
the simulated sources (CMDB ~70% complete with ~10% stale records, vCenter/Proxmox, NetBox,
trace telemetry), each with its gaps (``adapters.topology.sim``). Then:

- ``edge_recall`` / ``edge_precision``: impact relations (runs_on, hosted_on, depends_on,
  authenticates_with) into *covered* entities (coverage ``full``), against ground truth
  (targets >= 0.95 and >= 0.98);
- ``blast_agreement``: share of servers and hypervisors whose blast radius (hosts, services,
  clusters) equals the ground truth's; ``blast_agreement_covered`` over covered ones;
- ``uncovered``: entities with coverage ``none`` (named in the text output);
- ``unknown_auto``: auto decisions of the example policy, over a batch of routine requests
  (``service.restart`` of every service), on targets with coverage other than ``full`` or an
  unknown environment (target 0);
- sync time of the 4,200-endpoint estate (target <= 30 s) and of a ~100k-node estate.

    .venv/bin/python bench/topology.py [--json] [--skip-100k]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from adapters.topology import sim_topology_sources, sync_topology, without_topology
from agent.policy import PolicyInput, load_policy, target_of
from twin.db import make_engine
from twin.graph import TwinGraph
from twin.ingest import IngestBatch
from twin.model import EdgeType, NodeKind
from twin.plan import rehearse
from twin.sample import generate_estate
from twin.store import TwinStore

TOPO = frozenset(
    {EdgeType.RUNS_ON, EdgeType.HOSTED_ON, EdgeType.DEPENDS_ON, EdgeType.AUTHENTICATES_WITH}
)
TARGETS = {"edge_recall": 0.95, "edge_precision": 0.98, "unknown_auto": 0, "sync_4200_s": 30.0}
_BLAST_KINDS = frozenset({NodeKind.HOST, NodeKind.HYPERVISOR, NodeKind.SERVICE, NodeKind.CLUSTER})


def _truth_graph(est: Any) -> TwinGraph:
    g = TwinGraph()
    for e in est.entities:
        g.put_entity(e)
    for r in est.relations:
        g.put_relation(r)
    return g


def build(est: Any, folder: Path) -> tuple[TwinStore, float, Any]:
    """Load the non-topology inventory, then time one topology sync over the sims."""
    engine = make_engine(f"sqlite:///{folder / 'twin.db'}")
    store = TwinStore(engine)
    store.create()
    ents, rels = without_topology(est.entities, est.relations)
    res = store.apply(IngestBatch(source="rmm", entities=ents, relations=rels, actor="bench"))
    assert not res.rejections, res.rejections[:3]
    sources = sim_topology_sources(est.entities, est.relations, now=est.now, clock=lambda: est.now)
    t0 = time.perf_counter()
    out = sync_topology(store, sources, now=est.now)
    return store, time.perf_counter() - t0, out


def _pairs(rels: Any) -> set[tuple[str, str]]:
    return {(r.src, r.dst) for r in rels if r.type in TOPO}


def measure(est: Any, store: TwinStore, sync: Any) -> dict[str, Any]:
    truth = _truth_graph(est)
    twin = store.load()
    covered = {e for e, level in sync.coverage.items() if level == "full"}
    t_pairs = {p for p in _pairs(truth.relations()) if p[1] in covered}
    w_pairs = {p for p in _pairs(twin.relations()) if p[1] in covered}
    hit = len(t_pairs & w_pairs)
    hosts = [
        e.id
        for e in truth.entities()
        if (e.kind == NodeKind.HOST and e.attrs.get("role") != "endpoint")
        or e.kind == NodeKind.HYPERVISOR
    ]

    def radius(g: TwinGraph, eid: str) -> frozenset[str]:
        if eid not in g:
            return frozenset()
        return frozenset(
            i.entity.id for i in g.blast_radius(eid).items if i.entity.kind in _BLAST_KINDS
        )

    same = {h for h in hosts if radius(truth, h) == radius(twin, h)}
    cov_hosts = [h for h in hosts if h in covered]
    policy = load_policy(ROOT / "examples" / "policy.yaml")
    auto = unknown_auto = requests = 0
    for svc in sorted(twin.entities(NodeKind.SERVICE), key=lambda e: e.id):
        plan = rehearse(twin, "service.restart", [svc.id], now=est.now)
        targets = [target_of(twin.get(t)) for t in plan.targets]
        decision = policy.decide(
            PolicyInput.from_partial(
                {
                    "action": plan.action,
                    "targets": targets,
                    "params": plan.params,
                    "blast_radius": plan.collateral_summary(),
                    "invariants": plan.invariant_summary(),
                }
            )
        )
        requests += 1
        if decision.outcome == "auto":
            auto += 1
            if any(t["coverage"] != "full" or t["env"] == "unknown" for t in targets):
                unknown_auto += 1
    uncovered = sync.uncovered()
    return {
        "edge_recall": round(hit / len(t_pairs), 4) if t_pairs else 1.0,
        "edge_precision": round(hit / len(w_pairs), 4) if w_pairs else 1.0,
        "truth_edges_covered": len(t_pairs),
        "blast_agreement": round(len(same) / len(hosts), 4) if hosts else 1.0,
        "blast_agreement_covered": round(len(same & set(cov_hosts)) / len(cov_hosts), 4)
        if cov_hosts
        else 1.0,
        "coverage": {
            level: sum(1 for v in sync.coverage.values() if v == level)
            for level in ("full", "partial", "none")
        },
        "uncovered": len(uncovered),
        "uncovered_names": [twin.get(e).name for e in uncovered],
        "partial_names": sorted(
            twin.get(e).name for e, level in sync.coverage.items() if level == "partial"
        ),
        "routine_requests": requests,
        "auto": auto,
        "unknown_auto": unknown_auto,
        "match": {r.source: r.counts() for r in sync.reports},
        "aged": len(sync.aged),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-100k", action="store_true", help="skip the ~100k-node sync")
    args = ap.parse_args()
    out: dict[str, Any] = {"targets": TARGETS}
    with tempfile.TemporaryDirectory() as tmp:
        est = generate_estate()
        store, secs, sync = build(est, Path(tmp))
        out["sync_4200_s"] = round(secs, 2)
        out.update(measure(est, store, sync))
        store.engine.dispose()
    if not args.skip_100k:
        with tempfile.TemporaryDirectory() as tmp:
            big = generate_estate(target_nodes=100_000)
            store, secs, _ = build(big, Path(tmp))
            out["sync_100k_s"] = round(secs, 2)
            out["nodes_100k"] = len(big.entities)
            store.engine.dispose()
    if args.json:
        names = ("uncovered_names", "partial_names")
        print(json.dumps({k: v for k, v in out.items() if k not in names}, indent=2))
        return
    for key in (
        "edge_recall",
        "edge_precision",
        "blast_agreement",
        "blast_agreement_covered",
        "uncovered",
        "unknown_auto",
        "auto",
        "routine_requests",
        "sync_4200_s",
        "sync_100k_s",
    ):
        if key in out:
            target = TARGETS.get(key)
            print(
                f"{key:26} {out[key]!s:>10}" + (f"   target {target}" if target is not None else "")
            )
    print(f"{'coverage':26} {out['coverage']}")
    for src, counts in out["match"].items():
        print(f"match {src:20} {counts}")
    names = out["uncovered_names"]
    print(
        f"uncovered ({len(names)}): " + ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
    )


if __name__ == "__main__":
    main()
