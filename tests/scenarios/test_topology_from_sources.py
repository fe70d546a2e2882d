"""G1 end to end: a twin built the way a real installation builds it (inventories, then the
simulated topology sources with their gaps) never runs a routine change by itself on a target
whose dependents or environment it does not know."""

from __future__ import annotations

from pathlib import Path

from adapters.sim import SimTimings
from agent.service import ChangeRequest
from bot.bootstrap import bootstrap
from bot.settings import Settings
from twin.coverage import coverage_of
from twin.model import NodeKind


def test_g1_demo_twin_from_sources_sends_uncovered_restarts_to_consent(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", sample_endpoints=200, sample_topology="sources")
    oh = bootstrap(s, sim_timings=SimTimings(scale=0))
    try:
        g = oh.ops.graph
        services = sorted(g.entities(NodeKind.SERVICE), key=lambda e: e.id)
        assert services  # the topology sources brought services in
        assert all(e.attrs.get("coverage") for e in services)
        gaps = [e for e in services if coverage_of(e) != "full" or not e.attrs.get("env")]
        assert gaps, "the sims' gaps show as coverage"
        for e in gaps[:3]:
            res = oh.ops.propose(
                ChangeRequest(
                    action="service.restart",
                    targets=[e.id],
                    params={},
                    reason="test",
                    requester="T0:U0ANA",
                )
            )
            assert res.status in ("consent", "deny"), (e.id, res.status)
            assert res.plan is not None and res.plan.unknown_lines()
            assert any(e.name in line for line in res.plan.unknown_lines())
    finally:
        oh.close()


def test_demo_default_builds_through_sources_and_its_steps_are_covered(tmp_path: Path) -> None:
    """The demo's twin comes from the sources by default; the guided steps' targets are ones
    the sources cover fully, and a partly covered target never runs by itself."""
    s = Settings(data_dir=tmp_path / "data", sample_endpoints=200)
    assert s.sample_topology == "sources"
    oh = bootstrap(s, sim_timings=SimTimings(scale=0))
    try:
        g = oh.ops.graph
        for eid in ("host:contoso-ny-db-prod-01", "service:contoso-erp-app"):
            e = g.get(eid)
            assert coverage_of(e) == "full", eid
        routine = oh.ops.propose(
            ChangeRequest(
                action="service.restart",
                targets=["service:contoso-erp-app"],
                params={},
                reason="test",
                requester="T0:U0ANA",
            )
        )
        assert routine.status == "auto"
        partial = [e for e in g.entities(NodeKind.SERVICE) if coverage_of(e) == "partial"]
        assert partial, "the sims leave some services partly covered"
        for e in sorted(partial, key=lambda x: x.id)[:3]:
            res = oh.ops.propose(
                ChangeRequest(
                    action="service.restart",
                    targets=[e.id],
                    params={},
                    reason="test",
                    requester="T0:U0ANA",
                )
            )
            assert res.status in ("consent", "deny"), (e.id, res.status)
    finally:
        oh.close()
