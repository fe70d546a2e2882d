"""Benchmark: a routine action from proposal to reconciled, and executor throughput.

1. Latency: ``service.restart`` of a dev service on sim adapters (zero latency), proposal ->
   rehearsal -> policy -> queue -> claim -> call -> reconcile, one at a time on SQLite.
   Reports p50/p99 of the whole, of opshand's own time (the whole minus the time inside the
   adapters), and the ratio against the baseline: the same adapter calls made directly.
2. Throughput in one process on SQLite: proposals per second, then the executor draining the
   queue (routine actions per second), then both end to end.
3. Scaling on PostgreSQL (when ``OPSHAND_TEST_POSTGRES_URL`` is set): the same queue drained by
   1 and by 3 worker processes, actions per second from the first claim to the last
   reconciliation.

    .venv/bin/python bench/execution.py [--actions 300] [--pg-actions 600] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, select, text

from adapters.sim import SimEstate, SimTimings, SqliteCallStore
from agent.approval import Guardrails
from agent.execution import Adapters, journal_table
from agent.policy import load_policy
from agent.service import ChangeRequest, Operations
from agent.wiring import build_core
from tests.estate import small_estate
from twin.db import make_engine
from twin.ingest import IngestBatch
from twin.store import TwinStore

REQUEST = ChangeRequest(
    action="service.restart",
    targets=["contoso-dev-app"],
    params={},
    reason="bench",
    requester="T0BENCH:U0ANA",
)


class _Timed:
    """Wraps an adapter and adds the time spent inside its methods to ``spent[0]``."""

    def __init__(self, inner: Any, spent: list[float]) -> None:
        self._inner = inner
        self._spent = spent

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                self._spent[0] += time.perf_counter() - t

        return timed


def _world(
    engine: Engine,
    tmp: Path,
    *,
    seed: bool,
    store: SqliteCallStore | None = None,
    spent: list[float] | None = None,
    worker_id: str = "bench",
) -> tuple[Operations, SimEstate]:
    twin = TwinStore(engine)
    ents, rels = small_estate()
    if seed:
        twin.create()
        twin.apply(IngestBatch(source="bench", entities=ents, relations=rels))
    sim = SimEstate.from_twin(ents, rels, timings=SimTimings(scale=0), store=store)
    raw = {c: getattr(sim, c) for c in ("rmm", "psa", "siem", "identity", "backup", "firewall")}
    adapters = Adapters(**{c: _Timed(a, spent) if spent else a for c, a in raw.items()})
    core = build_core(
        engine=engine,
        store=twin,
        graph=twin.load(),
        adapters=adapters,
        policy=load_policy(ROOT / "examples" / "policy.yaml"),
        members={"approvers": ["U0BEN"], "admins": ["U0BEN"]},
        team_id="T0BENCH",
        checkpoint=tmp / f"{worker_id}.checkpoint",
        guardrails=Guardrails(max_auto_per_hour=10**9, breaker_failures=10**9),
        poll_interval=0.0,
        worker_id=worker_id,
    )
    ops = core.ops
    return ops, sim


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def latency(n: int, tmp: Path) -> dict[str, Any]:
    """Proposal to reconciled, one action at a time, against the direct adapter calls."""
    engine = make_engine(f"sqlite:///{tmp / 'latency.db'}")
    spent = [0.0]
    ops, sim = _world(engine, tmp, seed=True, spent=spent)
    total, own, direct = [], [], []
    for i in range(n):
        spent[0] = 0.0
        t = time.perf_counter()
        res = ops.propose(REQUEST)
        reports = ops.drain()
        dt = time.perf_counter() - t
        if res.status != "auto" or [r.final_state for r in reports] != ["reconciled"]:
            raise RuntimeError(f"routine action did not reconcile: {res.message} {reports}")
        total.append(dt)
        own.append(dt - spent[0])
        # Baseline: the calls the change makes, straight to the sim adapter.
        t = time.perf_counter()
        job = sim.rmm.run_script(
            "dev-dev-01",
            "restart-service",
            {"service": "contoso-dev-app"},
            idempotency_key=f"direct-{i}",
        )
        sim.rmm.job_status(job.job_id)
        sim.rmm.list_devices()
        direct.append(time.perf_counter() - t)
    engine.dispose()
    ms = 1000.0
    return {
        "actions": n,
        "total_p50_ms": _pct(total, 0.5) * ms,
        "total_p99_ms": _pct(total, 0.99) * ms,
        "own_p50_ms": _pct(own, 0.5) * ms,
        "own_p99_ms": _pct(own, 0.99) * ms,
        "direct_p50_ms": _pct(direct, 0.5) * ms,
        "direct_p99_ms": _pct(direct, 0.99) * ms,
        "ratio_p50": _pct(total, 0.5) / _pct(direct, 0.5),
    }


def throughput(n: int, tmp: Path) -> dict[str, Any]:
    """Routine actions per second in one process on SQLite."""
    engine = make_engine(f"sqlite:///{tmp / 'throughput.db'}")
    ops, _ = _world(engine, tmp, seed=True)
    t = time.perf_counter()
    for _ in range(n):
        ops.propose(REQUEST)
    proposed = time.perf_counter() - t
    t = time.perf_counter()
    done = sum(1 for r in ops.drain() if r.final_state == "reconciled")
    drained = time.perf_counter() - t
    engine.dispose()
    if done != n:
        raise RuntimeError(f"only {done} of {n} actions reconciled")
    return {
        "actions": n,
        "proposals_per_s": n / proposed,
        "executions_per_s": n / drained,
        "end_to_end_per_s": n / (proposed + drained),
    }


def _pg_queue(url: str, schema: str, n: int, tmp: Path) -> None:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    ops, _ = _world(engine, tmp, seed=True)
    first = ops.propose(REQUEST).change
    assert first is not None
    row = {
        c: getattr(first, c)
        for c in (
            "action",
            "targets",
            "params",
            "reason",
            "requester",
            "source",
            "channel",
            "thread_ts",
            "plan",
            "plan_hash",
            "decision",
            "created_at",
            "updated_at",
        )
    }
    with engine.begin() as conn:
        conn.execute(insert(journal_table), [{**row, "state": "queued"}] * (n - 1))
    engine.dispose()


def scaling(url: str, n: int, tmp: Path) -> dict[str, Any]:
    """The same queue drained by 1 and by 3 worker processes on PostgreSQL."""
    out: dict[str, Any] = {"actions": n}
    for workers in (1, 3):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        _pg_queue(url, schema, n, tmp)
        calls = tmp / f"calls-{schema}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, schema, str(calls), str(tmp), f"w{i}"],
                cwd=ROOT,
            )
            for i in range(workers)
        ]
        for p in procs:
            if p.wait(timeout=600) != 0:
                raise RuntimeError(f"worker exited with {p.returncode}")
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        q = text(
            "SELECT min(at), max(at) FROM audit_log WHERE kind IN "
            "('change.executing', 'change.reconciled')"
        )
        with engine.connect() as conn:
            start, end = conn.execute(q).one()
            done = conn.execute(
                select(func.count()).where(journal_table.c.state == "reconciled")
            ).scalar_one()
        engine.dispose()
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        seconds = (end - start).total_seconds()
        out[f"workers_{workers}_per_s"] = done / seconds
        out[f"workers_{workers}_reconciled"] = done
    out["speedup_3_vs_1"] = out["workers_3_per_s"] / out["workers_1_per_s"]
    return out


def _worker(url: str, schema: str, calls: str, tmp: str, worker_id: str) -> None:
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    ops, _ = _world(
        engine, Path(tmp), seed=False, store=SqliteCallStore(calls), worker_id=worker_id
    )
    ops.worker(batch=5, idle_sleep=0.05).run(until_idle=True)
    engine.dispose()


def _table(rows: list[tuple[str, str, str]]) -> str:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)


def main(argv: list[str]) -> int:
    """Run the benchmark and print a table (or JSON)."""
    if argv[:1] == ["--worker"]:
        _worker(*argv[1:6])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--actions", type=int, default=300)
    p.add_argument("--pg-actions", type=int, default=600)
    p.add_argument("--no-pg", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="opshand-bench-"))
    res: dict[str, Any] = {
        "latency": latency(a.actions, tmp),
        "throughput_sqlite": throughput(a.actions, tmp),
    }
    url = os.environ.get("OPSHAND_TEST_POSTGRES_URL", "")
    if url and not a.no_pg:
        res["scaling_postgres"] = scaling(url, a.pg_actions, tmp)
    if a.json:
        print(json.dumps(res, indent=2))
        return 0
    lat, thr = res["latency"], res["throughput_sqlite"]
    fmt: Callable[[float], str] = "{:.2f}".format
    rows = [
        ("routine action, proposal -> reconciled", "", f"{lat['actions']} actions, SQLite"),
        ("  total p50 / p99 (ms)", f"{fmt(lat['total_p50_ms'])} / {fmt(lat['total_p99_ms'])}", ""),
        (
            "  opshand's own p50 / p99 (ms)",
            f"{fmt(lat['own_p50_ms'])} / {fmt(lat['own_p99_ms'])}",
            "target <= 50 / 250",
        ),
        (
            "  direct sim calls p50 / p99 (ms)",
            f"{fmt(lat['direct_p50_ms'])} / {fmt(lat['direct_p99_ms'])}",
            "baseline",
        ),
        ("  ratio total / direct (p50)", f"{lat['ratio_p50']:.0f}x", ""),
        ("one process, SQLite", "", f"{thr['actions']} actions"),
        ("  proposals / s", f"{thr['proposals_per_s']:.0f}", ""),
        ("  executions / s", f"{thr['executions_per_s']:.0f}", "target >= 50"),
        ("  end to end / s", f"{thr['end_to_end_per_s']:.0f}", ""),
    ]
    if "scaling_postgres" in res:
        sc = res["scaling_postgres"]
        rows += [
            ("PostgreSQL workers", "", f"{sc['actions']} queued actions"),
            ("  1 worker, actions / s", f"{sc['workers_1_per_s']:.0f}", ""),
            ("  3 workers, actions / s", f"{sc['workers_3_per_s']:.0f}", ""),
            ("  speedup", f"{sc['speedup_3_vs_1']:.2f}x", ""),
        ]
    print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
