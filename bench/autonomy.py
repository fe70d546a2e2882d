"""Benchmark: autonomy at estate scale, on the sim, without a model.

1. The staged patch cycle (``agent.patching.StagedCycle``) for the whole sample estate at the
   sim's real job times (about 7 minutes a host) on a virtual clock, so hours of jobs take
   seconds: per client and in total the simulated hours from the window opening, stages, peak
   jobs in flight, RMM requests per minute, consent requests, deferred hosts and invariant
   violations; with the same injected trouble as below. ``--coincide`` starts every client at
   the same moment (all windows at once). ``--legacy-cycle`` runs the old wave cycle instead:
1'. The old patch cycle for the whole sample estate (default 4,200 endpoints) with the sim's job
   latencies scaled to 1% and the issue's injected trouble (3% of patch runs fail, 1% of hosts
   offline, one patch that breaks a service after install): wall time, endpoints per second,
   consent requests raised, invariant violations (auto-run plans whose rehearsal failed a deny
   invariant; must be 0), plus the outcome of every host.
2. Routine alerts through the signal loop (default 1,000 distinct ServiceDown alerts, each a
   rolling restart the policy runs by itself): alert-to-reconciled latency p50/p99 and
   throughput. Baseline: the same alerts proposed straight to ``Operations.propose`` with no
   incident/ticket bookkeeping, to show what the loop itself costs.

    .venv/bin/python bench/autonomy.py [--endpoints 4200] [--alerts 1000] [--coincide]
                                       [--legacy-cycle --scale 0.01 --workers 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/twin.py would shadow the twin package when this runs as a script from bench/.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine

from adapters.signals import parse_generic
from adapters.sim import FaultRule, ManualClock, SimEstate, SimTimings
from agent.approval import Guardrails
from agent.incidents import IncidentBook
from agent.patching import (
    PatchCycle,
    PatchCycleSettings,
    StagedCycle,
    StagedSettings,
    plan_cycle,
    plan_stages,
)
from agent.policy import load_policy
from agent.service import ChangeRequest, Operations
from agent.signals import SignalLoop, load_runbooks
from agent.wiring import build_core, sim_adapters
from twin.db import make_engine, metadata
from twin.ingest import IngestBatch
from twin.invariants.safety import in_window
from twin.model import EdgeType, NodeKind
from twin.sample import generate_estate
from twin.store import TwinStore

IN_WINDOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
"""Sunday 06:00 UTC: inside every sample client's Sat/Sun 22:00-04:00 local window."""


class _Clock:
    """Starts inside the window and runs at wall speed; opshand and the sim share it."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def _world(
    tmp: Path, endpoints: int, scale: float, breaker: int, clock: Any = None
) -> tuple[Operations, SimEstate, Any]:
    clock = clock or _Clock(IN_WINDOW)
    engine: Engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    metadata.create_all(engine)
    store = TwinStore(engine)
    store.create()
    est = generate_estate(endpoints=endpoints, now=clock.now() - timedelta(hours=1))
    store.apply(IngestBatch(source="sample", entities=list(est.entities),
                            relations=list(est.relations)))  # fmt: skip
    graph = store.load()
    sim = SimEstate.from_twin(list(graph.entities()), list(graph.relations()), clock=clock,
                              timings=SimTimings(scale=scale))  # fmt: skip
    core = build_core(
        engine=engine, store=store, graph=graph, adapters=sim_adapters(sim),
        policy=load_policy(ROOT / "examples" / "policy_autonomy.yaml"),
        members={"approvers": ["U0BEN"], "admins": ["U0BEN"]}, team_id="T0BENCH",
        checkpoint=tmp / "audit.checkpoint", now=clock.now,
        # The hourly cap on auto actions would stop a cycle of thousands of hosts by design;
        # the failure breaker is sized for a rollout that expects ~3% failures.
        guardrails=Guardrails(max_auto_per_hour=1_000_000, breaker_failures=breaker),
        poll_interval=0.02, sleep=clock.sleep,
    )  # fmt: skip
    ops = core.ops
    return ops, sim, clock


def _bad_patch(ops: Operations) -> tuple[str, str]:
    g = ops.graph
    for svc in sorted(g.entities(), key=lambda e: e.id):
        if svc.kind is not NodeKind.SERVICE:
            continue
        hosts = [d for t, d in g.out_edges(svc.id) if t is EdgeType.RUNS_ON]
        kbs: dict[str, int] = {}
        for h in hosts:
            for t, s in g.in_edges(h):
                if t is EdgeType.PENDING_ON:
                    kb = str(g.get(s).attrs["patch_id"])
                    kbs[kb] = kbs.get(kb, 0) + 1
        for kb, n in sorted(kbs.items(), key=lambda x: -x[1]):
            if n >= 2:
                return svc.name, kb
    raise RuntimeError("no service shares a pending patch")


def _openings(ops: Operations) -> list[tuple[datetime, str]]:
    """For each client, the first moment its maintenance window is open while the twin's facts
    are still fresh (the estate was synced an hour before ``IN_WINDOW``)."""
    out = []
    g = ops.graph
    for c in sorted(g.entities(), key=lambda e: e.id):
        if c.kind is not NodeKind.CLIENT:
            continue
        win = c.attrs.get("maintenance_window")
        for step in range(0, 46):
            at = IN_WINDOW - timedelta(minutes=30) + timedelta(minutes=30 * step)
            if not isinstance(win, dict) or in_window(win, at + timedelta(minutes=5)):
                out.append((at + timedelta(minutes=5), str(c.attrs.get("client") or c.id[7:])))
                break
    return sorted(out)


def bench_cycle(endpoints: int, scale: float, workers: int) -> dict[str, Any]:
    """The whole patch cycle with injected trouble, each client inside its own window."""
    with tempfile.TemporaryDirectory() as d:
        ops, sim, clock = _world(Path(d), endpoints, scale, breaker=max(25, endpoints // 20))
        service, kb = _bad_patch(ops)
        full = plan_cycle(ops.graph, now=ops.now(), settings=PatchCycleSettings(
            respect_windows=False))  # fmt: skip
        hosts = {h.host_id: h for w in full.waves for h in w.hosts}
        sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="partial_failure",
                                 probability=0.03))  # fmt: skip
        sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="bad_patch",
                                 patch_id=kb, service=service))  # fmt: skip
        for hid in sorted(hosts)[::100]:
            sim.drift.take_offline(hosts[hid].device_id)
        planned: list[str] = []
        results: dict[str, Any] = {}
        consent = violations = 0
        quarantined: set[str] = set()
        rolled = 0
        waves = 0
        wall = 0.0
        for at, client in _openings(ops):
            # A scheduler starts each client's cycle when its window opens: move the shared
            # clock there (never backwards), then time the cycle itself.
            if at > clock.now():
                clock.start += at - clock.now()
            start = time.perf_counter()
            plan = plan_cycle(ops.graph, now=ops.now(), client=client)
            report = PatchCycle(ops, rmm=sim.rmm, psa=sim.psa, cycle_id=f"bench-{client}",
                                settings=PatchCycleSettings(workers=workers)).run(plan)  # fmt: skip
            wall += time.perf_counter() - start
            planned += plan.hosts
            waves += len(plan.waves)
            results.update(report.results)
            consent += report.consent_requests
            violations += report.invariant_violations
            quarantined |= set(report.quarantined)
            rolled += len(report.rollbacks.get(kb, []))
        counts: dict[str, int] = {}
        for r in results.values():
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return {
            "endpoints": endpoints,
            "hosts_with_patches": len(hosts),
            "waves": waves,
            "wall_seconds": round(wall, 2),
            "endpoints_per_second": round(len(hosts) / wall, 2),
            "consent_requests": consent,
            "invariant_violations": violations,
            "unaccounted": len([h for h in hosts if h not in results]),
            "bad_patch": kb,
            "bad_patch_quarantined": kb in quarantined,
            "rolled_back": rolled,
            "service_after": sim.service_health(service).status,
            "outcomes": counts,
            "sim_scale": scale,
            "workers": workers,
        }


PLAN_AT = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
"""Saturday 11:00 UTC: before every sample client's Sat 22:00 local window opens."""


def _rmm_per_minute(sim: SimEstate) -> int:
    """The most RMM requests the sim saw in any minute (counted by the sim, not the cycle)."""
    per: dict[datetime, int] = {}
    for c in sim.calls.store.records():
        if c.category == "rmm":
            minute = c.at.replace(second=0, microsecond=0)
            per[minute] = per.get(minute, 0) + 1
    return max(per.values(), default=0)


def bench_staged(endpoints: int, coincide: bool) -> dict[str, Any]:
    """The staged cycle at real job times on a virtual clock, each client in its window."""
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        clock = ManualClock(PLAN_AT)
        ops, sim, _ = _world(Path(d), endpoints, 1.0, breaker=5, clock=clock)
        service, kb = _bad_patch(ops)
        plans = plan_stages(ops.graph, at=clock.now())
        if coincide:  # every client's window opens at the first opening, and stays as long
            first = min(p.opens_at for p in plans.values())
            plans = {c: replace(p, opens_at=first, closes_at=first + ((p.closes_at or first)
                                - p.opens_at)) for c, p in plans.items()}  # fmt: skip
        hosts = {h.host_id: h for p in plans.values() for h in p.hosts}
        sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="partial_failure",
                                 probability=0.03))  # fmt: skip
        sim.faults.add(FaultRule(category="rmm", call="apply_patches", kind="bad_patch",
                                 patch_id=kb, service=service))  # fmt: skip
        for hid in sorted(hosts)[::100]:
            sim.drift.take_offline(hosts[hid].device_id)
        calls_before = len(sim.calls.store.records())
        cards: list[dict[str, Any]] = []
        cycle = StagedCycle(
            ops,
            rmm=sim.rmm,
            psa=sim.psa,
            clock=clock,
            cycle_id="bench",
            settings=StagedSettings(),
            approve=lambda c: cards.append(c) or True,
        )
        t1 = time.perf_counter()
        reports = cycle.run(plans)
        wall = time.perf_counter() - t1
        stats = cycle.stats()
        clients: dict[str, Any] = {}
        for slug, rep in sorted(reports.items()):
            c = rep.counts()
            clients[slug] = {
                "hosts": rep.planned,
                "simulated_hours": stats[slug]["hours_from_opening"],
                "stages": stats[slug]["stages"],
                "peak_in_flight": stats[slug]["peak_in_flight"],
                "consent_requests": rep.consent_requests,
                "deferred_hosts": sum(v for k, v in c.items() if k.startswith("deferred")),
                "invariant_violations": rep.invariant_violations,
                "slack_posts": stats[slug]["slack_posts"],
                "halted": rep.halted,
                "outcomes": c,
            }
        first = min(p.opens_at for p in plans.values())
        last = max(r.finished_at or clock.now() for r in cycle.runs.values())
        outcomes: dict[str, int] = {}
        for rep in reports.values():
            for k, v in rep.counts().items():
                outcomes[k] = outcomes.get(k, 0) + v
        quarantined = {k for rep in reports.values() for k in rep.quarantined}
        return {
            "endpoints": endpoints,
            "hosts_with_patches": len(hosts),
            "coincide": coincide,
            "clients": clients,
            "total": {
                "simulated_hours": round((last - first).total_seconds() / 3600, 2),
                "max_client_hours": max(c["simulated_hours"] for c in clients.values()),
                "stages": sum(c["stages"] for c in clients.values()),
                "peak_in_flight": cycle.peak_in_flight,
                "rmm_requests": len(sim.calls.store.records()) - calls_before,
                "rmm_requests_per_minute_peak": _rmm_per_minute(sim),
                "rmm_budget_per_minute": cycle.settings.rmm_per_minute,
                "consent_requests": sum(c["consent_requests"] for c in clients.values()),
                "deferred_hosts": sum(c["deferred_hosts"] for c in clients.values()),
                "invariant_violations": sum(c["invariant_violations"] for c in clients.values()),
                "unaccounted": len(
                    [h for h in hosts if not any(h in r.results for r in reports.values())]
                ),
                "bad_patch": kb,
                "bad_patch_quarantined": kb in quarantined,
                "service_after": sim.service_health(service).status,
                "outcomes": outcomes,
                "cycle_wall_seconds": round(wall, 2),
                "bench_wall_seconds": round(time.perf_counter() - t0, 2),
            },
        }


def _restart_targets(ops: Operations) -> list[str]:
    g = ops.graph
    out = []
    for svc in sorted(g.entities(), key=lambda e: e.id):
        if svc.kind is NodeKind.SERVICE:
            n = sum(1 for t, _ in g.out_edges(svc.id) if t is EdgeType.RUNS_ON)
            if n >= 2:
                out.append(svc.name)
    return out


def _pcts(samples: list[float]) -> tuple[float, float]:
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return round(qs[49] * 1000, 1), round(qs[98] * 1000, 1)


def _alert_run(mode: str, alerts: int, endpoints: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        ops, sim, clock = _world(Path(d), endpoints, 0.0, breaker=alerts)
        incidents = IncidentBook(ops.engine, psa=sim.psa, now=clock.now)
        loop = SignalLoop(ops, load_runbooks(ROOT / "examples" / "runbooks.yaml"), incidents)
        services = _restart_targets(ops)

        def one(i: int) -> Any:
            svc = services[i % len(services)]
            if mode == "direct":
                return ops.propose(ChangeRequest(
                    action="service.restart", targets=[f"service:{svc}"], params={},
                    reason="bench", requester="signal:bench", source="signal"))  # fmt: skip
            return loop.handle(parse_generic({
                "id": f"a{i}", "title": f"{svc} down", "status": "firing", "severity": "high",
                "labels": {"alertname": "ServiceDown", "service": svc}}))  # fmt: skip

        lat: list[float] = []
        states: dict[str, int] = {}
        start = time.perf_counter()
        for i in range(alerts):
            t0 = time.perf_counter()
            one(i)
            for r in ops.drain():
                states[r.final_state] = states.get(r.final_state, 0) + 1
            lat.append(time.perf_counter() - t0)
            if (i + 1) % len(services) == 0:
                # Every service had its alert; the next round comes after the runbook's group
                # window, so each alert is a new incident that needs action (not a repeat).
                clock.start += timedelta(minutes=16)
        wall = time.perf_counter() - start
        p50, p99 = _pcts(lat)
        return {"p50_ms": p50, "p99_ms": p99, "per_second": round(alerts / wall, 1),
                "final_states": states}  # fmt: skip


def bench_alerts(alerts: int, endpoints: int) -> dict[str, Any]:
    """Routine alerts through the loop, each to reconciled, vs. proposing directly."""
    return {"alerts": alerts, **{m: _alert_run(m, alerts, endpoints) for m in ("loop", "direct")}}


def _print_staged(c: dict[str, Any]) -> None:
    both = ", windows coincide" if c["coincide"] else ""
    print(f"staged patch cycle: {c['endpoints']} endpoints, {c['hosts_with_patches']} hosts with "
          f"patches, real job times on a virtual clock{both}")  # fmt: skip
    cols = ("hosts", "simulated_hours", "stages", "peak_in_flight", "consent_requests",
            "deferred_hosts", "invariant_violations", "slack_posts")  # fmt: skip
    print(f"  {'client':<10}" + "".join(f"{k[:14]:>15}" for k in cols))
    for slug, row in c["clients"].items():
        print(f"  {slug:<10}" + "".join(f"{row[k]:>15}" for k in cols))
    for k, v in c["total"].items():
        print(f"  {k:<30} {v}")
    print()


def main() -> None:
    """Run both benchmarks and print a table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=4200)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--alert-endpoints", type=int, default=300)
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--skip-cycle", action="store_true")
    ap.add_argument("--coincide", action="store_true", help="every client's window at once")
    ap.add_argument("--legacy-cycle", action="store_true", help="the old wave-by-wave cycle")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res: dict[str, Any] = {}
    if a.legacy_cycle:
        res["patch_cycle"] = bench_cycle(a.endpoints, a.scale, a.workers)
    elif not a.skip_cycle:
        res["staged_cycle"] = bench_staged(a.endpoints, a.coincide)
    if a.alerts:
        res["alerts"] = bench_alerts(a.alerts, a.alert_endpoints)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    if "staged_cycle" in res:
        _print_staged(res["staged_cycle"])
    if "patch_cycle" in res:
        c = res["patch_cycle"]
        print(
            f"patch cycle: {c['endpoints']} endpoints, {c['hosts_with_patches']} hosts with "
            f"patches, {c['waves']} waves, sim latency x{c['sim_scale']}, {c['workers']} workers"
        )
        for k in (
            "wall_seconds",
            "endpoints_per_second",
            "consent_requests",
            "invariant_violations",
            "unaccounted",
            "bad_patch_quarantined",
            "rolled_back",
            "service_after",
        ):
            print(f"  {k:<24} {c[k]}")
        print(f"  {'outcomes':<24} {c['outcomes']}")
    if "alerts" in res:
        r = res["alerts"]
        print(f"\n{r['alerts']} routine alerts (no model), alert -> reconciled")
        print(f"  {'':<8} {'p50 ms':>8} {'p99 ms':>8} {'per s':>8}")
        for mode in ("loop", "direct"):
            m = r[mode]
            print(f"  {mode:<8} {m['p50_ms']:>8} {m['p99_ms']:>8} {m['per_second']:>8}")
        ratio = r["loop"]["p50_ms"] / max(0.001, r["direct"]["p50_ms"])
        print(f"  loop / direct p50: {ratio:.2f}x  final states: {r['loop']['final_states']}")


if __name__ == "__main__":
    main()
