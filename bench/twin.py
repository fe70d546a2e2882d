"""Benchmark: the twin at scale (load, memory, blast radius, ingest, growth), SQLite and PostgreSQL.

For each size and database: generate the sample estate (``generate_estate(target_nodes=N)``),
migrate an empty database, ingest the estate, then measure

- load into memory (``TwinStore.load``) and the resident memory it adds, in a fresh subprocess
  so neither the generator's objects nor an earlier graph distort the figures;
- blast radius p50/p99 for a leaf (a laptop), a mid-tier service (the median service with a
  non-empty radius) and a hub (the largest radius in the estate), against a bare hand-written
  BFS over the same networkx graph in the same run (the named baseline);
- ingest of a 10,000-entity change-set (existing hosts with a changed attribute) and catching
  a second in-memory graph up with it by serial.

Targets (issue 3): load <= 5 s and RSS <= 600 MB at 100k; hub p99 <= 150 ms, leaf p99 <= 1 ms,
blast/BFS <= 1.5x; ingest >= 20,000 entities/s on SQLite.

    .venv/bin/python bench/twin.py [--sizes 10000,100000,300000] [--db sqlite,postgres]
                                   [--pg-url URL] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# this file is bench/twin.py: its own folder first on sys.path would shadow the twin package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text

from twin.db import make_engine, metadata, migrate
from twin.graph import TwinGraph
from twin.ingest import IngestBatch
from twin.model import IMPACT_EDGES, NodeKind, utcnow
from twin.queries import hosts_missing_patch, stale
from twin.store import TwinStore

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHANGESET = 10_000


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def _time(fn: Callable[[], object], reps: int) -> list[float]:
    for _ in range(min(5, reps)):
        fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bare_bfs(graph: TwinGraph, root: str) -> set[str]:
    """The baseline: what needs ``root`` over impact edges, by plain BFS over networkx's dicts."""
    pred = graph.g._pred
    seen = {root}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for src, d in pred[node].items():
            if src not in seen and not d["types"].isdisjoint(IMPACT_EDGES):
                seen.add(src)
                queue.append(src)
    return seen


def _grouped(graph: TwinGraph, eid: str) -> object:
    """What the agent's blast tool pays: the radius plus its groupings."""
    b = graph.blast_radius(eid)
    return b.by_kind, b.by_criticality


def _pick_targets(graph: TwinGraph) -> dict[str, str]:
    """A leaf (an endpoint nothing needs), the median service and the biggest hub."""
    leaf = next(
        e.id
        for e in graph.entities(NodeKind.HOST)
        if e.attrs.get("role") == "endpoint" and len(bare_bfs(graph, e.id)) == 1
    )
    sizes = {}
    for kind in (
        NodeKind.SERVICE,
        NodeKind.SAAS,
        NodeKind.SEGMENT,
        NodeKind.HYPERVISOR,
        NodeKind.CREDENTIAL,
        NodeKind.IDENTITY,
        NodeKind.FIREWALL,
    ):
        for e in graph.entities(kind):
            if e.id in graph._impact_in:
                sizes[e.id] = len(bare_bfs(graph, e.id)) - 1
    # mid-tier: the median service that other things need (a radius of 3 or more)
    services = sorted((n, i) for i, n in sizes.items() if i.startswith("service:") and n >= 3)
    services = services or sorted((n, i) for i, n in sizes.items() if n > 0)
    mid = services[len(services) // 2][1]
    hub = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    # for path timing: an endpoint of another client than the hub's, so the path is long
    hub_client = graph.get(hub).attrs.get("client")
    far = next(
        e.id
        for e in reversed(list(graph.entities(NodeKind.HOST)))
        if e.attrs.get("role") == "endpoint" and e.attrs.get("client") != hub_client
    )
    return {"leaf": leaf, "mid": mid, "hub": hub, "far": far}


def _engine(db: str, pg_url: str, schema: str | None, path: Path) -> Engine:
    if db == "sqlite":
        return make_engine(f"sqlite:///{path}")
    return make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})


def _child_load(args: argparse.Namespace) -> int:
    """Run in a fresh interpreter: load the twin, print seconds and memory as JSON."""
    import psutil

    proc = psutil.Process()
    engine = _engine(args.db[0], args.pg_url, args.child_schema, Path(args.child_path))
    store = TwinStore(engine)
    store.meta()  # connect and import everything before measuring
    before = proc.memory_info().rss
    t = time.perf_counter()
    graph = store.load()
    seconds = time.perf_counter() - t
    after = proc.memory_info().rss
    print(
        json.dumps(
            {
                "load_s": seconds,
                "rss_mb": after / 1e6,
                "graph_mb": (after - before) / 1e6,
                "nodes": len(graph),
            }
        )
    )
    return 0


def _load_in_child(db: str, pg_url: str, schema: str | None, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--db", db, "--pg-url", pg_url, "--child-path", str(path)]
    if schema:
        cmd += ["--child-schema", schema]
    out = subprocess.run([*cmd, "--child-load"], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def run_one(size: int, db: str, pg_url: str, quick: bool) -> dict[str, Any]:
    """All figures for one estate size on one database."""
    from twin.sample import generate_estate

    r: dict[str, Any] = {"size": size, "db": db}
    t = time.perf_counter()
    estate = generate_estate(target_nodes=size)
    r["generate_s"] = time.perf_counter() - t
    r["nodes"], r["relations"] = len(estate.entities), len(estate.relations)
    tmp = Path(tempfile.mkdtemp(prefix="twinbench"))
    schema = f"bench_{uuid.uuid4().hex[:8]}" if db == "postgres" else None
    if schema:
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    engine = _engine(db, pg_url, schema, tmp / "twin.db")
    try:
        migrate(engine, metadata=metadata)
        store = TwinStore(engine)
        store.create()
        t = time.perf_counter()
        store.apply(
            IngestBatch(source="sample", entities=estate.entities, relations=estate.relations)
        )
        r["initial_ingest_s"] = time.perf_counter() - t
        r["initial_ingest_per_s"] = (r["nodes"] + r["relations"]) / r["initial_ingest_s"]
        del estate
        child = _load_in_child(db, pg_url, schema, tmp / "twin.db")
        r.update(child)
        graph = store.load()
        # What a long-running opshand process should do after loading the twin: move its
        # million objects out of the collector's reach, or a full collection lands in the p99.
        gc.collect()
        gc.freeze()
        targets = _pick_targets(graph)
        reps = {
            "leaf": 200 if quick else 2000,
            "mid": 100 if quick else 500,
            "hub": 10 if quick else 50,
        }
        for name in ("leaf", "mid", "hub"):
            eid = targets[name]
            twin = _time(lambda eid=eid: graph.blast_radius(eid), reps[name])
            full = _time(lambda eid=eid: _grouped(graph, eid), reps[name])
            bare = _time(lambda eid=eid: bare_bfs(graph, eid), reps[name])
            r[f"blast_{name}"] = {
                "id": eid,
                "items": len(graph.blast_radius(eid).items),
                "p50_ms": _pct(twin, 0.5) * 1e3,
                "p99_ms": _pct(twin, 0.99) * 1e3,
                "grouped_p50_ms": _pct(full, 0.5) * 1e3,
                "bfs_p50_ms": _pct(bare, 0.5) * 1e3,
                "bfs_p99_ms": _pct(bare, 0.99) * 1e3,
                "ratio_p50": statistics.median(twin) / statistics.median(bare),
            }
        r["path_hops"] = len(graph.path(targets["hub"], targets["far"]) or []) - 1
        r["path_hub_far_ms"] = (
            _pct(_time(lambda: graph.path(targets["hub"], targets["far"]), 20), 0.5) * 1e3
        )
        patch = next(iter(graph.entities(NodeKind.PATCH))).attrs["patch_id"]
        r["missing_patch_ms"] = (
            _pct(_time(lambda: hosts_missing_patch(graph, patch), 10), 0.5) * 1e3
        )
        r["stale_ms"] = _pct(_time(lambda: stale(graph, timedelta(hours=24)), 5), 0.5) * 1e3
        hosts = [e for e in graph.entities() if e.active][:CHANGESET]
        now = utcnow()
        changed = [
            h.model_copy(update={"attrs": {**h.attrs, "bench_mark": i}, "last_seen": now})
            for i, h in enumerate(hosts)
        ]
        reader = store.load()
        t = time.perf_counter()
        res = store.apply(IngestBatch(source="rmm", entities=changed))
        r["changeset_s"] = time.perf_counter() - t
        r["changeset_per_s"] = res.changed / r["changeset_s"]
        t = time.perf_counter()
        r["catch_up_changes"] = store.catch_up(reader)
        r["catch_up_s"] = time.perf_counter() - t
    finally:
        engine.dispose()
        if schema:
            admin = make_engine(pg_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return r


def _blast(r: dict[str, Any], name: str) -> str:
    b = r[f"blast_{name}"]
    return f"{b['p50_ms']:.3f}/{b['p99_ms']:.3f} ms [{b['items']:,}]"


def _ratio(r: dict[str, Any], name: str) -> str:
    b = r[f"blast_{name}"]
    return f"{b['bfs_p50_ms']:.3f} ms / {b['ratio_p50']:.2f}x"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
    ("nodes / relations", lambda r: f"{r['nodes']:,} / {r['relations']:,}", ""),
    (
        "initial ingest",
        lambda r: f"{r['initial_ingest_s']:.1f} s ({r['initial_ingest_per_s']:,.0f}/s)",
        "",
    ),
    ("load into memory", lambda r: f"{r['load_s']:.2f} s", "<= 5 s @100k"),
    (
        "RSS after load (graph)",
        lambda r: f"{r['rss_mb']:.0f} MB ({r['graph_mb']:.0f})",
        "<= 600 MB @100k",
    ),
    ("blast leaf p50/p99", lambda r: _blast(r, "leaf"), "p99 <= 1 ms"),
    ("blast mid p50/p99", lambda r: _blast(r, "mid"), ""),
    ("blast hub p50/p99", lambda r: _blast(r, "hub"), "p99 <= 150 ms"),
    ("  bare BFS leaf p50 / ratio", lambda r: _ratio(r, "leaf"), "<= 1.5x"),
    ("  bare BFS mid p50 / ratio", lambda r: _ratio(r, "mid"), "<= 1.5x"),
    ("  bare BFS hub p50 / ratio", lambda r: _ratio(r, "hub"), "<= 1.5x"),
    ("blast hub + grouping p50", lambda r: f"{r['blast_hub']['grouped_p50_ms']:.1f} ms", ""),
    (
        "path hub -> far endpoint p50",
        lambda r: f"{r['path_hub_far_ms']:.2f} ms ({r['path_hops']} hops)",
        "",
    ),
    ("hosts missing a patch p50", lambda r: f"{r['missing_patch_ms']:.1f} ms", ""),
    ("stale (24 h) p50", lambda r: f"{r['stale_ms']:.1f} ms", ""),
    (
        "10k change-set ingest",
        lambda r: f"{r['changeset_s']:.2f} s ({r['changeset_per_s']:,.0f}/s)",
        ">= 20k/s SQLite",
    ),
    ("catch-up of it by serial", lambda r: f"{r['catch_up_s']:.2f} s", ""),
]


def print_table(results: list[dict[str, Any]]) -> None:
    """A plain-text table, one column per (size, database)."""
    heads = [f"{r['size'] // 1000}k {r['db']}" for r in results]
    w0 = max(len(n) for n, _, _ in ROWS)
    cells = [[fmt(r) for r in results] for _, fmt, _ in ROWS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    print(
        f"{'metric':<{w0}}  "
        + "  ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
        + "  target"
    )
    for (name, _, target), row in zip(ROWS, cells, strict=True):
        print(
            f"{name:<{w0}}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True))
            + f"  {target}"
        )
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (``--help`` for options)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--sizes", default="10000,100000", help="comma-separated node counts")
    p.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    p.add_argument("--pg-url", default=os.environ.get("OPSHAND_TEST_POSTGRES_URL", DEFAULT_PG_URL))
    p.add_argument("--quick", action="store_true", help="10k nodes on SQLite, fewer repetitions")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--child-load", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child-path", default="", help=argparse.SUPPRESS)
    p.add_argument("--child-schema", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.db = [d.strip() for d in args.db.split(",") if d.strip()]
    if args.child_load:
        return _child_load(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.db = [10_000], ["sqlite"]
    results = [run_one(size, db, args.pg_url, args.quick) for size in sizes for db in args.db]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
