"""Benchmark: rehearsing changes on a fork of the twin.

Three figures, each against a named target:

1. single-target rehearsal (fork, effects, every invariant of the action, blast radius, plan
   and hash) on the 100,000-node sample twin: p50 and p99 over many targets (target p50 <= 5 ms);
2. the same rehearsal done the naive way, on ``graph.g.copy()`` (copy, then the same work on the
   copy), in the same run: the ratio of p50s (target >= 100x);
3. a patch plan with waves for every endpoint of the default 4,200-endpoint estate
   (target <= 10 s).

Prints a table; ``--json`` prints the same figures as JSON.

    .venv/bin/python bench/rehearsal.py [--iterations 300] [--copies 5] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# ``twin`` is a namespace package: a module named twin.py beside this script (bench/twin.py)
# would win over it, so the script's own folder leaves the path.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from twin.graph import TwinGraph
from twin.model import NodeKind
from twin.plan import rehearse
from twin.sample import REFERENCE_NOW, generate_estate

TARGET_P50_MS = 5.0
TARGET_RATIO = 100.0
TARGET_PATCH_S = 10.0


def _graph(**kw: Any) -> TwinGraph:
    est = generate_estate(**kw)
    g = TwinGraph()
    for e in est.entities:
        g.put_entity(e)
    for r in est.relations:
        g.put_relation(r)
    return g


def _cases(g: TwinGraph, n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """A mix of single-target changes over distinct targets, servers first."""
    servers = [e.id for e in g.entities(NodeKind.HOST) if e.attrs.get("role") != "endpoint"]
    endpoints = [e.id for e in g.entities(NodeKind.HOST) if e.attrs.get("role") == "endpoint"]
    services = [e.id for e in g.entities(NodeKind.SERVICE)]
    creds = [e.id for e in g.entities(NodeKind.CREDENTIAL)]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(("host.reboot", servers[i % len(servers)], {}))
        elif kind == 1:
            out.append(("patch.apply", endpoints[i % len(endpoints)], {}))
        elif kind == 2:
            out.append(("patch.apply", servers[(i * 7) % len(servers)], {}))
        elif kind == 3:
            out.append(("service.restart", services[i % len(services)], {}))
        else:
            out.append(("credential.rotate", creds[i % len(creds)], {"overlap_minutes": 60}))
    return out


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def bench_single(g: TwinGraph, iterations: int) -> dict[str, Any]:
    cases = _cases(g, iterations)
    for action, target, params in cases[:20]:
        rehearse(g, action, [target], params, now=REFERENCE_NOW)  # warm-up
    samples: list[float] = []
    per_action: dict[str, list[float]] = {}
    collateral = 0
    gc.disable()
    try:
        for action, target, params in cases:
            start = time.perf_counter()
            plan = rehearse(g, action, [target], params, now=REFERENCE_NOW)
            took = time.perf_counter() - start
            samples.append(took)
            per_action.setdefault(action, []).append(took)
            collateral += len(plan.collateral)
    finally:
        gc.enable()
    return {
        "iterations": len(samples),
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": _pct(samples, 0.99) * 1000,
        "mean_collateral": collateral / len(samples),
        "per_action_p50_ms": {
            a: statistics.median(s) * 1000 for a, s in sorted(per_action.items())
        },
    }


def bench_copy(g: TwinGraph, copies: int) -> dict[str, Any]:
    cases = _cases(g, copies)
    samples = []
    for action, target, params in cases:
        start = time.perf_counter()
        clone = TwinGraph()
        clone.g = g.g.copy()
        clone.serial, clone.lineage = g.serial, g.lineage
        rehearse(clone, action, [target], params, now=REFERENCE_NOW)
        samples.append(time.perf_counter() - start)
        del clone
    return {"iterations": len(samples), "p50_ms": statistics.median(samples) * 1000}


def bench_patch_all(runs: int) -> dict[str, Any]:
    g = _graph()
    endpoints = [e.id for e in g.entities(NodeKind.HOST) if e.attrs.get("role") == "endpoint"]
    samples = []
    plan = None
    for _ in range(runs):
        start = time.perf_counter()
        plan = rehearse(g, "patch.apply", endpoints, {"reboot": True}, now=REFERENCE_NOW)
        samples.append(time.perf_counter() - start)
    assert plan is not None
    return {
        "targets": len(endpoints),
        "waves": len(plan.waves),
        "largest_wave": max(len(w) for w in plan.waves),
        "runs": runs,
        "p50_s": statistics.median(samples),
        "max_s": max(samples),
    }


def run(iterations: int, copies: int, patch_runs: int) -> dict[str, Any]:
    start = time.perf_counter()
    big = _graph(target_nodes=100_000)
    built = time.perf_counter() - start
    single = bench_single(big, iterations)
    naive = bench_copy(big, copies)
    patch = bench_patch_all(patch_runs)
    ratio = naive["p50_ms"] / single["p50_ms"]
    return {
        "twin": {"nodes": len(big), "edges": big.edge_count, "build_s": built},
        "single_target": single,
        "copy_baseline": naive,
        "ratio_copy_over_fork": ratio,
        "patch_all_endpoints": patch,
        "targets": {
            "single_p50_ms": TARGET_P50_MS,
            "ratio": TARGET_RATIO,
            "patch_s": TARGET_PATCH_S,
        },
        "met": {
            "single_p50": single["p50_ms"] <= TARGET_P50_MS,
            "ratio": ratio >= TARGET_RATIO,
            "patch": patch["p50_s"] <= TARGET_PATCH_S,
        },
    }


def _table(r: dict[str, Any]) -> str:
    s, c, p = r["single_target"], r["copy_baseline"], r["patch_all_endpoints"]
    ok = {True: "met", False: "MISSED"}
    rows = [
        f"twin: {r['twin']['nodes']:,} nodes, {r['twin']['edges']:,} edges "
        f"(built in {r['twin']['build_s']:.1f} s)",
        "",
        f"{'figure':44} {'value':>12} {'target':>10}  status",
        f"{'single-target rehearsal p50 (fork)':44} {s['p50_ms']:>9.2f} ms {'<= 5 ms':>10}  "
        f"{ok[r['met']['single_p50']]}",
        f"{'single-target rehearsal p99 (fork)':44} {s['p99_ms']:>9.2f} ms {'':>10}",
        f"{'same rehearsal on graph.g.copy() p50':44} {c['p50_ms']:>9.1f} ms {'':>10}",
        f"{'copy / fork (p50 ratio)':44} {r['ratio_copy_over_fork']:>10.0f} x {'>= 100x':>10}  "
        f"{ok[r['met']['ratio']]}",
        f"{'patch plan, ' + str(p['targets']) + ' endpoints, ' + str(p['waves']) + ' waves':44} "
        f"{p['p50_s']:>10.2f} s {'<= 10 s':>10}  {ok[r['met']['patch']]}",
        "",
        "single-target p50 by action:",
    ]
    rows += [f"  {a:40} {ms:>9.2f} ms" for a, ms in s["per_action_p50_ms"].items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=300, help="single-target rehearsals")
    parser.add_argument("--copies", type=int, default=5, help="rehearsals on graph.g.copy()")
    parser.add_argument("--patch-runs", type=int, default=3, help="4,200-endpoint patch plans")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = run(args.iterations, args.copies, args.patch_runs)
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
