"""Drift (changes outside opshand), the clocks, timings and building from twin records."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.contracts import FirewallRule
from adapters.sim import Clock, ManualClock, SimEstate, SimTimings, SystemClock
from tests.adapters.sim.conftest import START, WEB1, WS1, small_estate
from twin.model import Entity, NodeKind


def test_drift_changes_show_in_next_read(sim: SimEstate, clock: ManualClock) -> None:
    sim.drift.reboot(WEB1)
    clock.advance(120)
    dev = next(d for d in sim.rmm.list_devices() if d.device_id == WEB1)
    assert dev.last_boot == START + timedelta(seconds=120)
    sim.drift.disable_user("u-alice")
    assert sim.identity.get_user("u-alice").status == "disabled"
    sim.drift.add_firewall_rule(
        FirewallRule(rule_id="rogue", action="allow", source="any", destination="any")
    )
    assert "contoso-ny-fw-01/rogue" in {r.rule_id for r in sim.firewall.list_rules()}
    sim.drift.install_patch(WS1, "KB5034441")
    assert [p.status for p in sim.rmm.patch_status(WS1)] == ["installed"]
    sim.drift.release_patch(WS1, "KB9999999")
    assert {p.patch_id for p in sim.rmm.patch_status(WS1)} == {"KB5034441", "KB9999999"}
    # Drift is not an adapter effect and is not in the call log.
    assert sim.effects("rmm", "reboot") == 0
    assert sim.effects("drift", "reboot", WEB1) == 1
    assert not sim.calls.filter(method="reboot")


def test_manual_clock_moves_only_when_told() -> None:
    c = ManualClock(START)
    assert c.now() == START
    c.sleep(2.5)
    assert c.advance(0.5) == START + timedelta(seconds=3)
    with pytest.raises(ValueError, match="seconds >= 0"):
        c.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))
    assert isinstance(c, Clock) and isinstance(SystemClock(), Clock)
    assert SystemClock().now().tzinfo is not None


def test_timings_scale_every_duration() -> None:
    t = SimTimings(scale=0.01)
    assert t.seconds("reboot") == timedelta(seconds=1.2)
    assert SimTimings(scale=0).seconds("restore") == timedelta(0)
    with pytest.raises(ValueError, match="no timing called 'nap'"):
        t.seconds("nap")
    with pytest.raises(ValueError):
        SimTimings(scale=-1)


def test_scaled_timings_run_on_the_system_clock() -> None:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, timings=SimTimings(scale=0))
    job = sim.rmm.reboot(WEB1, idempotency_key="r")
    assert sim.rmm.job_status(job.job_id).state == "succeeded"


def test_build_is_deterministic_with_the_seed() -> None:
    ents, rels = small_estate()

    def snapshot(seed: int) -> list[tuple[str, int]]:
        s = SimEstate.from_twin(ents, rels, clock=ManualClock(START), seed=seed)
        return sorted((u.user_id, u.sessions) for u in s.identity.list_users())

    assert snapshot(1) == snapshot(1)
    assert snapshot(1) != snapshot(2) or snapshot(1) != snapshot(3)


def test_build_refuses_bad_attrs_naming_them() -> None:
    bad = Entity(id="host:x", kind=NodeKind.HOST, name="x", attrs={"last_boot": "yesterday"})
    with pytest.raises(ValueError, match="yesterday"):
        SimEstate.from_twin([bad], [], clock=ManualClock(START))


def test_build_is_independent_of_the_twin_records() -> None:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=ManualClock(START), timings=SimTimings(scale=0))
    sim.identity.disable_user("u-bob", idempotency_key="d")
    bob = next(e for e in ents if e.id == "identity:contoso-bob")
    assert bob.attrs.get("status") is None
