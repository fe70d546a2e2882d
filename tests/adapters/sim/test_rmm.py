"""RMM behaviour: reboots, patch runs, scripts and jobs over clock time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.errors import AdapterError, NotFound
from adapters.sim import ManualClock, SimEstate
from tests.adapters.sim.conftest import DB1, START, WEB1, WEB2, WS1, small_estate
from twin.model import EdgeType, Relation


def _device(sim: SimEstate, device_id: str):  # type: ignore[no-untyped-def]
    return next(d for d in sim.rmm.list_devices() if d.device_id == device_id)


def test_rmm_list_devices_reports_estate(sim: SimEstate) -> None:
    devices = {d.device_id: d for d in sim.rmm.list_devices()}
    assert set(devices) == {"100001", WEB1, WEB2, DB1, WS1}
    web = devices[WEB1]
    assert web.hostname == "contoso-ny-web-01"
    assert web.online and web.role == "web" and web.client == "contoso"
    assert web.services == {"contoso-web": "running"}
    assert web.last_boot == START - timedelta(days=2)
    assert devices[DB1].services == {"contoso-erp-db": "running", "contoso-reports": "running"}


def test_rmm_reboot_takes_device_down_then_back(sim: SimEstate, clock: ManualClock) -> None:
    job = sim.rmm.reboot(WEB1, idempotency_key="r1")
    assert job.state == "queued" and job.kind == "reboot" and job.target == WEB1
    clock.advance(5)  # queue delay: reboot starts
    assert sim.rmm.job_status(job.job_id).state == "running"
    dev = _device(sim, WEB1)
    assert not dev.online
    assert dev.services == {"contoso-web": "stopped"}
    assert sim.service_health("contoso-web").status == "degraded"
    clock.advance(119)
    assert not _device(sim, WEB1).online
    clock.advance(1)
    done = sim.rmm.job_status(job.job_id)
    assert done.state == "succeeded"
    assert done.finished_at == START + timedelta(seconds=125)
    dev = _device(sim, WEB1)
    assert dev.online and dev.services == {"contoso-web": "running"}
    assert dev.last_boot == START + timedelta(seconds=125)
    assert sim.service_health("service:contoso-web").status == "running"


def test_rmm_apply_patches_installs_and_reboots(sim: SimEstate, clock: ManualClock) -> None:
    job = sim.rmm.apply_patches(WEB1, ["KB5034129", "KB5034439"], reboot=True, idempotency_key="p1")
    clock.advance(5 + 299)
    assert {p.patch_id: p.status for p in sim.rmm.patch_status(WEB1)} == {
        "KB5034129": "pending",
        "KB5034439": "pending",
    }
    clock.advance(1)  # patch phase over: installed, reboot begins
    assert all(p.status == "installed" for p in sim.rmm.patch_status(WEB1))
    assert sim.rmm.job_status(job.job_id).state == "running"
    assert not _device(sim, WEB1).online
    clock.advance(120)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
    assert _device(sim, WEB1).last_boot == START + timedelta(seconds=425)


def test_rmm_apply_patches_without_reboot_keeps_device_up(
    sim: SimEstate, clock: ManualClock
) -> None:
    job = sim.rmm.apply_patches(WEB2, ["KB5034129"], reboot=False, idempotency_key="p2")
    clock.advance(305)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
    dev = _device(sim, WEB2)
    assert dev.online and dev.last_boot == START - timedelta(days=2)
    assert [p.status for p in sim.rmm.patch_status(WEB2)] == ["installed"]


def test_rmm_apply_unknown_patch_is_not_found(sim: SimEstate) -> None:
    with pytest.raises(NotFound, match="KB0000000"):
        sim.rmm.apply_patches(WEB1, ["KB0000000"], reboot=False, idempotency_key="p3")
    assert sim.effects("rmm", "apply_patches") == 0


def test_rmm_unknown_device_is_not_found(sim: SimEstate) -> None:
    with pytest.raises(NotFound, match="nope"):
        sim.rmm.reboot("nope", idempotency_key="r9")
    with pytest.raises(NotFound):
        sim.rmm.job_status("job-99999")


def test_rmm_scale_zero_finishes_jobs_at_once(instant: SimEstate) -> None:
    job = instant.rmm.reboot(DB1, idempotency_key="r1")
    assert instant.rmm.job_status(job.job_id).state == "succeeded"
    assert _device(instant, DB1).online


def test_rmm_offline_device_job_waits_then_runs(sim: SimEstate, clock: ManualClock) -> None:
    sim.drift.take_offline(WS1)
    job = sim.rmm.apply_patches(WS1, ["KB5034441"], reboot=False, idempotency_key="p1")
    clock.advance(600)
    assert sim.rmm.job_status(job.job_id).state == "queued"
    sim.drift.bring_online(WS1)
    assert sim.rmm.job_status(job.job_id).state == "running"
    clock.advance(300)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"


def test_rmm_offline_device_job_fails_after_timeout(sim: SimEstate, clock: ManualClock) -> None:
    sim.drift.take_offline(WS1)
    assert not _device(sim, WS1).online
    job = sim.rmm.reboot(WS1, idempotency_key="r1")
    clock.advance(5 + 900)
    failed = sim.rmm.job_status(job.job_id)
    assert failed.state == "failed" and "offline" in failed.detail
    sim.drift.bring_online(WS1)
    clock.advance(600)
    assert sim.rmm.job_status(job.job_id).state == "failed"
    assert _device(sim, WS1).last_boot != START + timedelta(seconds=5)


def test_rmm_job_waits_for_reboot_to_finish(sim: SimEstate, clock: ManualClock) -> None:
    sim.rmm.reboot(WEB1, idempotency_key="r1")
    clock.advance(10)
    job = sim.rmm.run_script(WEB1, "collect-logs", {}, idempotency_key="s1")
    clock.advance(60)
    assert sim.rmm.job_status(job.job_id).state == "queued"
    clock.advance(60)  # reboot ends at 125 s: the script starts then, runs 30 s
    assert sim.rmm.job_status(job.job_id).state == "running"
    clock.advance(30)
    assert sim.rmm.job_status(job.job_id).state == "succeeded"


def test_rmm_script_restart_service_brings_instance_back(instant: SimEstate) -> None:
    instant.drift.stop_service(WEB2, "contoso-web")
    health = instant.service_health("contoso-web")
    assert health.status == "degraded" and health.instances[WEB2] == "stopped"
    instant.rmm.run_script(WEB2, "restart-service", {"service": "contoso-web"}, idempotency_key="s")
    assert instant.service_health("contoso-web").status == "running"


def test_rmm_script_refuses_unknown_script_and_missing_params(sim: SimEstate) -> None:
    with pytest.raises(NotFound, match="not allowlisted"):
        sim.rmm.run_script(WEB1, "format-c", {}, idempotency_key="s1")
    with pytest.raises(AdapterError, match="service"):
        sim.rmm.run_script(WEB1, "restart-service", {}, idempotency_key="s2")
    with pytest.raises(NotFound, match="does not run"):
        sim.rmm.run_script(
            WEB1, "restart-service", {"service": "contoso-erp-db"}, idempotency_key="s3"
        )
    assert sim.effects("rmm", "run_script") == 0


def test_rmm_hypervisor_reboot_takes_guests_down(clock: ManualClock) -> None:
    ents, rels = small_estate()
    rels.append(
        Relation(
            src="host:contoso-ny-web-01", type=EdgeType.HOSTED_ON, dst="hypervisor:contoso-ny-hv-01"
        )
    )
    sim = SimEstate.from_twin(ents, rels, clock=clock)
    sim.rmm.reboot("100001", idempotency_key="hv")
    clock.advance(10)
    assert not _device(sim, WEB1).online and _device(sim, WEB2).online
    assert sim.service_health("contoso-web").instances[WEB1] == "stopped"
    clock.advance(120)
    assert _device(sim, WEB1).online
    assert _device(sim, WEB1).last_boot == _device(sim, "100001").last_boot


def test_rmm_overlapping_reboots_keep_device_down_until_the_last(
    sim: SimEstate, clock: ManualClock
) -> None:
    job = sim.rmm.reboot(WEB1, idempotency_key="r1")
    clock.advance(65)  # the reboot began at 5 s; 60 s later someone reboots it again by hand
    sim.drift.reboot(WEB1)
    clock.advance(61)  # the first reboot's 120 s are over, the second's are not
    assert not _device(sim, WEB1).online
    assert sim.rmm.job_status(job.job_id).state == "running"
    clock.advance(60)
    assert _device(sim, WEB1).online
    assert sim.rmm.job_status(job.job_id).state == "succeeded"
    assert _device(sim, WEB1).last_boot == START + timedelta(seconds=65 + 120)
