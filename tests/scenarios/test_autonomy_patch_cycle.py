"""The patch cycle on the sim with injected trouble: failures, offline hosts, one bad patch."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from adapters.sim import FaultRule
from agent.patching import PatchCycle, PatchCycleSettings, plan_cycle
from tests.agent.autonomy.world import ROOT, build_ops
from twin.model import EdgeType, NodeKind

# Sunday 06:00 UTC: inside every sample client's Sat/Sun 22:00-04:00 local window.
IN_WINDOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
POLICY = ROOT / "examples" / "policy_autonomy.yaml"


def _bad_patch(graph) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A (service, KB) pair: a KB pending on two or more non-canary hosts of one service."""
    for svc in sorted(graph.entities(), key=lambda e: e.id):
        if svc.kind is not NodeKind.SERVICE:
            continue
        hosts = [graph.get(d) for t, d in graph.out_edges(svc.id) if t is EdgeType.RUNS_ON]
        if any(h.attrs.get("role") == "db" or h.attrs.get("patch_ring") == "canary" for h in hosts):
            continue
        kbs = Counter(
            graph.get(s).attrs["patch_id"]
            for h in hosts
            for t, s in graph.in_edges(h.id)
            if t is EdgeType.PENDING_ON
        )
        for kb, n in kbs.most_common():
            if n >= 2:
                return svc.name, kb
    raise AssertionError("the sample estate has no service sharing a pending patch")


# The old wave cycle (``--legacy``) on SQLite: its PostgreSQL run is the CLI's
# (tests/bot/test_cli_patch_cycle.py), and the staged cycle, the default, runs on both there.
@pytest.mark.parametrize("db_url_engine", ["sqlite"], indirect=True)
def test_patch_cycle_with_injected_trouble(engine: Engine, tmp_path: Path) -> None:
    # ~190 hosts at 3% failures: size the autonomy breaker for a rollout, not a single alert
    ops, sim, audit = build_ops(
        engine, tmp_path, endpoints=300, policy_file=POLICY, now=IN_WINDOW, breaker_failures=25
    )
    graph = ops.graph
    service, kb = _bad_patch(graph)
    plan = plan_cycle(graph, now=ops.now())
    assert set(plan.windows.values()) == {"open"} and not plan.deferred
    hosts = {h.host_id: h for w in plan.waves for h in w.hosts}
    assert len(hosts) > 150
    # rings in order, and no wave holds two instances of one service
    assert [w.ring for w in plan.waves] == sorted(
        (w.ring for w in plan.waves), key=["canary", "early", "broad"].index
    )
    for w in plan.waves:
        svcs = [s for h in w.hosts for t, s in graph.in_edges(h.host_id) if t is EdgeType.RUNS_ON]
        assert len(svcs) == len(set(svcs)), w.number
    # trouble: 3% of patch runs fail, 1% of hosts offline, one patch breaks a service
    sim.faults.add(
        FaultRule(category="rmm", call="apply_patches", kind="partial_failure", probability=0.03)
    )
    sim.faults.add(
        FaultRule(
            category="rmm", call="apply_patches", kind="bad_patch", patch_id=kb, service=service
        )
    )
    offline = sorted(hosts)[::100]
    for hid in offline:
        sim.drift.take_offline(hosts[hid].device_id)

    events = []
    report = PatchCycle(
        ops,
        rmm=sim.rmm,
        psa=sim.psa,
        progress=events.append,
        settings=PatchCycleSettings(retries=1),
    ).run(plan)

    # every endpoint is accounted for, and nothing is left merely "failed"
    assert report.unaccounted(plan.hosts) == []
    outcomes = {h: r.outcome for h, r in report.results.items()}
    counts = report.counts()
    assert counts.get("failed", 0) == 0 and not report.halted, report.summary()
    assert counts["patched"] > 100
    # offline hosts deferred, not attempted
    assert {h for h, o in outcomes.items() if o == "deferred_offline"} == set(offline)
    for hid in offline:
        assert sim.effects("rmm", "apply_patches", hosts[hid].device_id) == 0
    # the bad patch: quarantined, rolled back where it went in, all in one wave
    assert kb in report.quarantined
    rolled = set(report.rollbacks[kb])
    assert all(outcomes[h] == "rolled_back" for h in rolled)
    wave_of = {h.host_id: w.number for w in plan.waves for h in w.hosts}
    runs_it = {d for t, d in graph.out_edges(f"service:{service}") if t is EdgeType.RUNS_ON}
    first_exposed = min(
        wave_of[h]
        for h in runs_it
        if kb in hosts[h].patch_ids and outcomes[h] in ("rolled_back", "patched", "escalated")
    )
    assert f"wave {first_exposed}" in report.quarantined[kb]  # halted in the wave that showed it
    got_kb = {h for h in hosts if kb in hosts[h].patch_ids and outcomes[h] != "deferred_offline"}
    early = {h for h in got_kb if wave_of[h] <= first_exposed}
    assert rolled and rolled <= early  # hosts that got it, up to the wave that showed the damage
    assert not [h for h in early if outcomes[h] == "patched"]
    for h in got_kb:  # uninstalled where it went in (or a person asked to), never after
        states = {p.patch_id: p.status for p in sim.rmm.patch_status(hosts[h].device_id)}
        if states.get(kb) == "installed":
            assert wave_of[h] <= first_exposed and outcomes[h] == "escalated", h
            assert "rollback of" in report.results[h].detail
        if wave_of[h] > first_exposed:
            assert outcomes[h] in ("patched", "held", "awaiting_consent", "escalated"), h
    assert sim.service_health(service).status == "running"
    # injected failures were retried (policy decided again) or escalated with a ticket
    retried = 0
    for h, r in report.results.items():
        applies = [ops.journal.get(int(c[3:])) for c in r.changes]
        applies = [c for c in applies if c.action == "patch.apply"]
        if applies and applies[0].state in ("escalated", "rolled_back", "failed"):
            retried += 1
            assert r.outcome in ("patched", "escalated", "awaiting_consent"), (h, r)
            assert len(applies) == 2 or r.outcome == "awaiting_consent"
            if r.outcome == "escalated":
                assert "ticket TCK-" in r.detail
    assert retried >= 1
    # consent only where policy asks: production database servers
    waiting = [h for h, o in outcomes.items() if o == "awaiting_consent"]
    asked = {"prod-database-patch", "invariant-needs-consent", "critical-collateral"}
    for h in waiting:
        change = ops.journal.get(int(report.results[h].changes[-1][3:]))
        assert change.state == "awaiting_consent"
        assert asked & set(change.decision["matched"]), change.decision  # type: ignore[index]
    dbs = [h for h in hosts if graph.get(h).attrs.get("role") == "db"]
    assert dbs and not [h for h in dbs if outcomes[h] in ("patched", "rolled_back")]
    assert sum(o == "patched" for o in outcomes.values()) > 4 * len(waiting)
    rollback_asks = [
        h
        for h, r in report.results.items()
        if "rollback of" in r.detail and " consent:" in r.detail
    ]
    assert report.consent_requests == len(waiting) + len(rollback_asks)
    assert report.invariant_violations == 0
    assert events[0].kind == "start" and events[-1].kind == "done"
    assert any(e.kind == "quarantined" for e in events)
    assert audit.verify().ok
