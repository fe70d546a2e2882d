"""Planning a patch cycle from the twin: rings, windows, redundancy-safe waves."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.patching import PatchCycleSettings, plan_cycle
from twin.graph import TwinGraph
from twin.model import EdgeType
from twin.sample import generate_estate

IN_WINDOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # Sun 06:00 UTC: Sat/Sun night in the US
OUTSIDE = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # a Wednesday afternoon


def _graph() -> TwinGraph:
    est = generate_estate(endpoints=300)
    g = TwinGraph()
    g.bulk_load(est.entities, [(r.src, r.type.value, r.dst) for r in est.relations])
    return g


def test_plan_rings_in_order_and_waves_keep_redundancy() -> None:
    g = _graph()
    plan = plan_cycle(g, now=IN_WINDOW, settings=PatchCycleSettings(wave_percent=20))
    rings = [w.ring for w in plan.waves]
    assert rings == sorted(rings, key=["canary", "early", "broad"].index)
    for w in plan.waves:
        groups = [
            x
            for h in w.hosts
            for t, x in [*g.in_edges(h.host_id), *g.out_edges(h.host_id)]
            if t in (EdgeType.RUNS_ON, EdgeType.MEMBER_OF)
        ]
        assert len(groups) == len(set(groups)), f"wave {w.number} holds two replicas"
        assert all(h.ring == w.ring for h in w.hosts)
    hosts = [h.host_id for w in plan.waves for h in w.hosts]
    assert len(hosts) == len(set(hosts)) and not plan.deferred


def test_plan_defers_clients_outside_their_window() -> None:
    g = _graph()
    plan = plan_cycle(g, now=OUTSIDE, client="contoso")
    assert plan.waves == () and plan.deferred
    assert all(r.outcome == "deferred_window" for r in plan.deferred.values())
    assert plan.windows["contoso"].startswith("opens 2026-11-28T22:00")
    forced = plan_cycle(
        g, now=OUTSIDE, client="contoso", settings=PatchCycleSettings(respect_windows=False)
    )
    assert len([h for w in forced.waves for h in w.hosts]) == len(plan.deferred)
