"""RELIABILITY G4 for the patch cycle: a cycle planned ahead of its window (the scheduled
change) whose window closes is deferred to the next opening, and one whose twin drifted before
its start goes back to consent with the difference shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agent.patching import decide_hosts, plan_drift
from tests.agent.autonomy.test_staged_cycle import CLIENT, World, world

__all__ = ["world"]  # the fixture, re-exported for pytest


def test_g4_window_closing_defers_the_rest_to_the_next_opening_with_the_reason(
    world: World,
) -> None:
    p = world.plan()[CLIENT]
    close = p.opens_at + timedelta(minutes=75)
    report = world.cycle().run({CLIENT: replace(p, closes_at=close)})[CLIENT]
    deferred = [r for r in report.results.values() if r.outcome == "deferred_window"]
    assert deferred and all("window closes" in r.detail for r in deferred)
    assert all("deferred to 2026-11-29T22:00:00-05:00" in r.detail for r in deferred)
    assert not [r for r in report.results.values() if r.outcome == "awaiting_consent"
                and "window" in r.detail]  # fmt: skip  # deferred, not escalated
    need = timedelta(seconds=p.settings.p95_job_seconds + p.settings.rollback_seconds)
    assert all(c.at + need <= close for c in world.patch_calls())


def test_g4_twin_drift_before_the_start_goes_back_to_consent_with_the_difference(
    world: World,
) -> None:
    plans = world.plan()  # Saturday noon: planned ten hours before the window opens
    p = plans[CLIENT]
    auto = decide_hosts(world.ops, p.hosts, reason="t", requester="signal:patch-cycle",
                        now=world.clock.now()).auto  # fmt: skip
    assert plan_drift(world.ops.graph, p) == {}
    h = next(x for x in auto if not x.groups)
    g = world.ops.graph
    e = g.get(h.host_id)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, "env": "staging"}}))
    assert plan_drift(g, p) == {h.host_id: [f"environment: {h.environment or 'none'} -> staging"]}
    report = world.cycle(approve=False).run(plans)[CLIENT]
    res = report.results[h.host_id]
    assert res.outcome == "awaiting_consent"
    assert "the twin drifted since planning" in res.detail and "-> staging" in res.detail
    [card] = world.cards
    assert h.name in card["production_exceptions"]
    assert card["drifted"] == {h.name: [f"environment: {h.environment or 'none'} -> staging"]}
    assert h.device_id not in {c.args["device_id"] for c in world.patch_calls()}
    assert report.consent_requests == 1  # still one card for the whole client


def test_g4_drifted_host_runs_once_a_person_approved_the_card_that_showed_it(
    world: World,
) -> None:
    plans = world.plan()
    p = plans[CLIENT]
    h = next(x for x in p.hosts if not x.groups and x.ring == "broad")
    e = world.ops.graph.get(h.host_id)
    world.ops.graph.put_entity(e.model_copy(update={"attrs": {**e.attrs, "env": "staging"}}))
    report = world.cycle(approve=True).run(plans)[CLIENT]
    assert world.cards and h.name in world.cards[0]["drifted"]
    assert report.results[h.host_id].outcome in ("patched", "deferred_offline")
