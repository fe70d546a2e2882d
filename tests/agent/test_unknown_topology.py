"""G1: unknown is not safe. A routine change on a target whose dependents or environment no
source states goes to a person, and the plan says what is unknown in words."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.agent.ops_world import make_world
from twin.ingest import IngestBatch
from twin.model import Entity, NodeKind

PORTAL = "service:contoso-portal"


def _say(w, source: str, **attrs: object) -> None:
    # what a topology sync writes when no source covers the portal (twin.coverage)
    e = Entity(id=PORTAL, kind=NodeKind.SERVICE, name="contoso-portal", attrs=attrs)
    w.ops.store.apply(IngestBatch(source=source, entities=[e]))


def test_g1_restart_of_prod_service_with_no_topology_goes_to_consent(
    engine: Engine, tmp_path: Path
) -> None:
    w = make_world(engine, tmp_path)
    known = w.request("service.restart", [PORTAL])
    assert known.status == "auto", known.message  # prod, nothing depends on it, all known
    _say(w, "topology", coverage="none", coverage_sources=[])
    res = w.request("service.restart", [PORTAL])
    assert res.status == "consent", res.message
    assert res.decision is not None and "blast-radius-unknown" in res.decision.matched
    assert "routine-restart-or-patch" in res.decision.matched  # would have run by itself
    assert res.plan is not None
    assert res.plan.unknown_lines() == [
        "blast radius unknown: no topology source covers contoso-portal"
    ]
    assert res.plan.collateral_summary()["unknown"] == 1


def test_g1_partial_coverage_is_not_known_enough_for_auto(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    _say(w, "topology", coverage="partial", coverage_sources=["telemetry"])
    res = w.request("service.restart", [PORTAL])
    assert res.status == "consent"
    assert res.plan is not None and res.plan.unknown_lines() == [
        "blast radius incomplete: only some topology sources cover contoso-portal"
    ]


def test_g1_unknown_environment_goes_to_consent_and_is_said(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    _say(w, "topology", env="")  # no source states the environment
    res = w.request("service.restart", [PORTAL])
    assert res.status == "consent"
    assert res.decision is not None and "environment-unknown" in res.decision.matched
    assert res.plan is not None and res.plan.unknown_lines() == [
        "environment unknown: no source states the environment of contoso-portal"
    ]


def test_g1_uncovered_collateral_counts_as_unknown(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    _say(w, "topology", coverage="none", coverage_sources=[])
    # the app's restart takes the portal down; the portal's own dependents are unknown
    res = w.request("service.restart", ["contoso-erp-app"])
    assert res.plan is not None
    assert res.plan.collateral_summary()["unknown"] == 1
    assert res.status == "consent"
