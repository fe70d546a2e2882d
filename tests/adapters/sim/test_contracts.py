"""The sim adapters satisfy the contracts, structurally and in behaviour."""

from __future__ import annotations

import pytest

from adapters.contracts import (
    Alert,
    BackupContract,
    BackupJob,
    Device,
    FirewallContract,
    FirewallRule,
    IdentityContract,
    IdentityUser,
    Job,
    PatchState,
    PsaContract,
    RestorePoint,
    RmmContract,
    SiemContract,
    SiemRule,
    Ticket,
)
from adapters.sim import SimEstate
from tests.adapters.sim.conftest import WEB1


def test_contract_sim_adapters_are_instances_of_the_protocols(sim: SimEstate) -> None:
    assert isinstance(sim.rmm, RmmContract)
    assert isinstance(sim.psa, PsaContract)
    assert isinstance(sim.siem, SiemContract)
    assert isinstance(sim.identity, IdentityContract)
    assert isinstance(sim.backup, BackupContract)
    assert isinstance(sim.firewall, FirewallContract)
    assert not isinstance(sim.rmm, PsaContract)


def test_contract_reads_return_contract_records(instant: SimEstate) -> None:
    assert all(isinstance(d, Device) for d in instant.rmm.list_devices())
    assert all(isinstance(p, PatchState) for p in instant.rmm.patch_status(WEB1))
    assert isinstance(instant.psa.get_ticket("tk-1001"), Ticket)
    assert all(isinstance(a, Alert) for a in instant.siem.list_alerts())
    assert isinstance(instant.siem.get_rule("r-brute"), SiemRule)
    assert all(isinstance(u, IdentityUser) for u in instant.identity.list_users())
    assert all(isinstance(j, BackupJob) for j in instant.backup.list_jobs())
    points = instant.backup.restore_points("contoso-ny-db-01")
    assert points and all(isinstance(p, RestorePoint) for p in points)
    assert all(isinstance(r, FirewallRule) for r in instant.firewall.list_rules())


def test_contract_jobs_are_contract_jobs_with_their_key(instant: SimEstate) -> None:
    job = instant.rmm.reboot(WEB1, idempotency_key="k")
    assert isinstance(job, Job) and job.idempotency_key == "k"
    status = instant.rmm.job_status(job.job_id)
    assert status.state == "succeeded" and status.started_at and status.finished_at


def test_contract_records_are_frozen(instant: SimEstate) -> None:
    dev = instant.rmm.list_devices()[0]
    with pytest.raises(Exception, match="frozen"):
        dev.online = False  # type: ignore[misc]
    dev.services["x"] = "running"  # a caller's copy: the estate must not change
    assert "x" not in instant.rmm.list_devices()[0].services


def test_contract_reads_never_count_as_effects(instant: SimEstate) -> None:
    instant.rmm.list_devices()
    instant.identity.list_users()
    instant.firewall.list_rules()
    assert instant.effects("rmm", "list_devices") == 0
    assert len(instant.calls) == 3
