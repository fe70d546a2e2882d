"""Each fault kind, rule matching, ``times`` and seeded determinism."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from adapters.errors import AmbiguousOutcome, AuthError, RateLimited, TransientError
from adapters.sim import FaultRule, ManualClock, SimEstate, SimTimings
from tests.adapters.sim.conftest import START, WEB1, WEB2, WS1, small_estate


def test_fault_latency_waits_on_the_clock(sim: SimEstate, clock: ManualClock) -> None:
    sim.faults.add(
        FaultRule(category="rmm", call="list_devices", kind="latency", latency_seconds=7)
    )
    sim.rmm.list_devices()
    assert clock.now() == START + timedelta(seconds=7)
    sim.rmm.patch_status(WEB1)  # other calls are not slowed
    assert clock.now() == START + timedelta(seconds=7)


def test_e1_fault_error_raises_transient_and_changes_nothing(sim: SimEstate) -> None:
    sim.faults.add(FaultRule(category="rmm", call="reboot", kind="error", times=1))
    with pytest.raises(TransientError) as err:
        sim.rmm.reboot(WEB1, idempotency_key="r1")
    assert err.value.retryable and "sim-rmm.reboot" in str(err.value)
    assert sim.effects("rmm", "reboot") == 0
    # The key was never used: the retry acts, once.
    sim.rmm.reboot(WEB1, idempotency_key="r1")
    assert sim.effects("rmm", "reboot", WEB1) == 1
    assert [c.outcome for c in sim.calls.filter(method="reboot")] == ["TransientError", "ok"]


def test_e3_fault_rate_limit_carries_retry_after(sim: SimEstate) -> None:
    sim.faults.add(FaultRule(category="identity", kind="rate_limit", retry_after=12.5))
    with pytest.raises(RateLimited) as err:
        sim.identity.list_users()
    assert err.value.retry_after == 12.5


@pytest.mark.parametrize("status", [401, 403])
def test_e6_fault_auth_raises_auth_error(sim: SimEstate, status: int) -> None:
    sim.faults.add(FaultRule(category="firewall", kind="auth", status=status))
    with pytest.raises(AuthError, match=str(status)) as err:
        sim.firewall.list_rules()
    assert not err.value.retryable
    sim.rmm.list_devices()  # other categories unaffected


def test_e2_fault_timeout_applies_the_change_then_raises(instant: SimEstate) -> None:
    instant.faults.add(FaultRule(category="identity", call="disable_user", kind="timeout", times=1))
    with pytest.raises(AmbiguousOutcome):
        instant.identity.disable_user("u-bob", idempotency_key="d1")
    assert instant.identity.get_user("u-bob").status == "disabled"  # read-back finds it applied
    assert instant.effects("identity", "disable_user", "u-bob") == 1
    # A retry with the same key is answered from the record, not applied again.
    assert instant.identity.disable_user("u-bob", idempotency_key="d1").status == "disabled"
    assert instant.effects("identity", "disable_user", "u-bob") == 1


def test_e4_fault_partial_failure_fails_only_that_target(instant: SimEstate) -> None:
    instant.faults.add(
        FaultRule(category="rmm", call="apply_patches", target=WEB2, kind="partial_failure")
    )
    ok = instant.rmm.apply_patches(WEB1, ["KB5034129"], reboot=False, idempotency_key="a")
    bad = instant.rmm.apply_patches(WEB2, ["KB5034129"], reboot=True, idempotency_key="b")
    assert instant.rmm.job_status(ok.job_id).state == "succeeded"
    failed = instant.rmm.job_status(bad.job_id)
    assert failed.state == "failed" and failed.detail
    assert [p.status for p in instant.rmm.patch_status(WEB2)] == ["failed"]
    web2 = next(d for d in instant.rmm.list_devices() if d.device_id == WEB2)
    assert web2.last_boot == START - timedelta(days=2)  # no reboot after a failed install


def test_fault_partial_failure_on_reboot_and_restore(instant: SimEstate) -> None:
    instant.faults.add(FaultRule(category="rmm", call="reboot", kind="partial_failure"))
    job = instant.rmm.reboot(WEB1, idempotency_key="r")
    assert instant.rmm.job_status(job.job_id).state == "failed"
    instant.faults.add(FaultRule(category="backup", kind="partial_failure"))
    point = instant.backup.restore_points("contoso-ny-db-01")[0]
    restore = instant.backup.start_restore(point.point_id, idempotency_key="x")
    assert instant.backup.restore_status(restore.job_id).state == "failed"
    assert instant.data_as_of("contoso-ny-db-01") is None


def test_fault_offline_takes_target_off_the_network(sim: SimEstate, clock: ManualClock) -> None:
    sim.faults.add(FaultRule(category="rmm", call="reboot", target=WS1, kind="offline", times=1))
    job = sim.rmm.reboot(WS1, idempotency_key="r1")
    assert not next(d for d in sim.rmm.list_devices() if d.device_id == WS1).online
    clock.advance(2000)
    assert sim.rmm.job_status(job.job_id).state == "failed"


def test_fault_bad_patch_breaks_named_service_after_install(instant: SimEstate) -> None:
    instant.faults.add(
        FaultRule(category="rmm", kind="bad_patch", patch_id="KB5034439", service="contoso-web")
    )
    job = instant.rmm.apply_patches(WEB1, ["KB5034439"], reboot=False, idempotency_key="p")
    assert instant.rmm.job_status(job.job_id).state == "succeeded"
    assert {p.patch_id: p.status for p in instant.rmm.patch_status(WEB1)}["KB5034439"] == (
        "installed"
    )
    health = instant.service_health("contoso-web")
    assert health.instances == {WEB1: "failed", WEB2: "running"}
    assert "KB5034439" in health.reasons[0]
    # Rebooting does not cure it; uninstalling the patch does.
    instant.rmm.reboot(WEB1, idempotency_key="r")
    assert instant.service_health("contoso-web").status == "degraded"
    instant.rmm.run_script(WEB1, "uninstall-patch", {"patch_id": "KB5034439"}, idempotency_key="u")
    assert instant.service_health("contoso-web").status == "running"


def test_fault_bad_patch_not_used_up_by_other_patches(instant: SimEstate) -> None:
    instant.faults.add(
        FaultRule(
            category="rmm", kind="bad_patch", patch_id="KB5034439", service="contoso-web", times=1
        )
    )
    instant.rmm.apply_patches(WEB1, ["KB5034129"], reboot=False, idempotency_key="a")
    assert len(instant.faults.rules) == 1
    instant.rmm.apply_patches(WEB1, ["KB5034439"], reboot=False, idempotency_key="b")
    assert instant.faults.rules == []
    assert instant.service_health("contoso-web").status == "degraded"


def test_fault_rule_times_and_target_matching(sim: SimEstate) -> None:
    sim.faults.add(
        FaultRule(category="rmm", call="patch_status", target=WEB2, kind="error", times=2)
    )
    sim.rmm.patch_status(WEB1)
    for _ in range(2):
        with pytest.raises(TransientError):
            sim.rmm.patch_status(WEB2)
    sim.rmm.patch_status(WEB2)
    assert sim.faults.rules == []


def test_fault_bad_patch_rule_needs_patch_and_service() -> None:
    with pytest.raises(ValidationError, match="patch_id and service"):
        FaultRule(category="rmm", kind="bad_patch", patch_id="KB1")


def _outcomes(seed: int) -> list[str]:
    ents, rels = small_estate()
    sim = SimEstate.from_twin(
        ents, rels, clock=ManualClock(START), seed=seed, timings=SimTimings(scale=0)
    )
    sim.faults.add(FaultRule(category="rmm", call="list_devices", kind="error", probability=0.5))
    out = []
    for _ in range(40):
        try:
            sim.rmm.list_devices()
            out.append("ok")
        except TransientError:
            out.append("err")
    return out


def test_fault_probability_is_deterministic_with_the_seed() -> None:
    first, again, other = _outcomes(3), _outcomes(3), _outcomes(4)
    assert first == again
    assert first != other
    assert 5 < first.count("err") < 35


def test_fault_kind_must_fit_category() -> None:
    with pytest.raises(ValidationError, match="offline fault applies to rmm"):
        FaultRule(category="identity", kind="offline")
    with pytest.raises(ValidationError, match="partial_failure"):
        FaultRule(category="psa", kind="partial_failure")
