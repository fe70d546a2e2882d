"""Contract suites for RMM, PSA and SIEM: the same tests for every client of a category."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.contracts import (
    Alert,
    Device,
    Job,
    PatchState,
    PsaContract,
    RmmContract,
    SiemContract,
    SiemRule,
    Ticket,
)
from adapters.errors import NotFound
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.harnesses import PSA_FACTORIES, RMM_FACTORIES, SIEM_FACTORIES, ids


@pytest.fixture(params=RMM_FACTORIES, ids=ids(RMM_FACTORIES))
def rmm(request):
    t = FakeTime()
    return request.param(t), t


@pytest.fixture(params=PSA_FACTORIES, ids=ids(PSA_FACTORIES))
def psa(request):
    return request.param(FakeTime())


@pytest.fixture(params=SIEM_FACTORIES, ids=ids(SIEM_FACTORIES))
def siem(request):
    t = FakeTime()
    return request.param(t), t


# --------------------------------------------------------------------------- RMM
def test_rmm_contract_inventory(rmm):
    h, _ = rmm
    assert isinstance(h.client, RmmContract)
    devices = h.client.list_devices()
    assert all(isinstance(d, Device) and d.hostname for d in devices)
    assert h.ids["device"] in {d.device_id for d in devices}
    assert len({d.device_id for d in devices}) == len(devices)  # pages neither lost nor repeated


def test_rmm_contract_patch_status(rmm):
    h, _ = rmm
    states = h.client.patch_status(h.ids["device"])
    by_id = {p.patch_id: p for p in states}
    assert all(isinstance(p, PatchState) and p.device_id == h.ids["device"] for p in states)
    assert by_id[h.ids["patch"]].status == "pending"
    assert by_id[h.ids["installed_patch"]].status == "installed"


def test_rmm_contract_apply_patches_then_job_status(rmm):
    h, t = rmm
    job = h.client.apply_patches(
        h.ids["device"], [h.ids["patch"]], reboot=False, idempotency_key="chg-1"
    )
    assert isinstance(job, Job)
    assert (job.target, job.idempotency_key) == (h.ids["device"], "chg-1")
    assert job.state in ("queued", "running", "succeeded")
    t.advance(30)
    later = h.client.job_status(job.job_id)
    assert later.job_id == job.job_id and later.state in ("running", "succeeded")


def test_rmm_contract_apply_unknown_patch_is_not_found(rmm):
    h, _ = rmm
    with pytest.raises(NotFound):
        h.client.apply_patches(
            h.ids["device"], ["KB0000000"], reboot=False, idempotency_key="chg-2"
        )


def test_rmm_contract_reboot_and_script_jobs(rmm):
    h, t = rmm
    reboot = h.client.reboot(h.ids["device"], idempotency_key="chg-3")
    script = h.client.run_script(
        h.ids["device"], h.ids["script"], {"mode": "check"}, idempotency_key="chg-4"
    )
    assert reboot.job_id != script.job_id
    t.advance(60)
    assert h.client.job_status(reboot.job_id).state in ("running", "succeeded")
    # A script sent to a rebooting device may wait for it to come back.
    assert h.client.job_status(script.job_id).state in ("queued", "running", "succeeded")
    t.advance(600)
    assert h.client.job_status(reboot.job_id).state == "succeeded"
    assert h.client.job_status(script.job_id).state == "succeeded"


def test_rmm_contract_missing_device_and_job_are_not_found(rmm):
    h, _ = rmm
    with pytest.raises(NotFound):
        h.client.patch_status(h.ids["missing_device"])
    with pytest.raises(NotFound):
        h.client.reboot(h.ids["missing_device"], idempotency_key="chg-5")
    with pytest.raises(NotFound):
        h.client.job_status("no-such-job")


# --------------------------------------------------------------------------- PSA
def test_psa_contract_get_ticket(psa):
    assert isinstance(psa.client, PsaContract)
    ticket = psa.client.get_ticket(psa.ids["ticket"])
    assert isinstance(ticket, Ticket)
    assert ticket.ticket_id == psa.ids["ticket"] or ticket.number == psa.ids["ticket"]
    assert ticket.title


def test_psa_contract_create_is_idempotent_per_key(psa):
    first = psa.client.create_ticket(
        "Patch web tier", "Rehearsed plan CR-7", priority="high", idempotency_key="k-create"
    )
    again = psa.client.create_ticket(
        "Patch web tier", "Rehearsed plan CR-7", priority="high", idempotency_key="k-create"
    )
    other = psa.client.create_ticket("Another", "x", priority="low", idempotency_key="k-other")
    assert first.ticket_id == again.ticket_id
    assert other.ticket_id != first.ticket_id
    assert first.priority in ("high", "2") and first.title == "Patch web tier"


def test_psa_contract_comment_status_escalate_close(psa):
    c = psa.client
    tid = psa.ids["ticket"]
    assert (
        "rebooted db-prod-01"
        in c.comment(tid, "rebooted db-prod-01", idempotency_key="k-c").comments
    )
    assert c.update_status(tid, "in_progress", idempotency_key="k-s").status == "in_progress"
    assert (
        c.update_status(tid, "in_progress", idempotency_key="k-s").status == "in_progress"
    )  # repeat is harmless
    assert c.escalate(tid, "customer impact", idempotency_key="k-e").escalated is True
    closed = c.close(tid, "patched and verified", idempotency_key="k-x")
    assert closed.status in ("resolved", "closed")


def test_psa_contract_missing_ticket_is_not_found(psa):
    with pytest.raises(NotFound):
        psa.client.get_ticket(psa.ids["missing_ticket"])
    with pytest.raises(NotFound):
        psa.client.comment(psa.ids["missing_ticket"], "x", idempotency_key="k")


# --------------------------------------------------------------------------- SIEM
def test_siem_contract_alerts_and_acknowledge(siem):
    h, _ = siem
    assert isinstance(h.client, SiemContract)
    alerts = h.client.list_alerts()
    assert all(isinstance(a, Alert) for a in alerts)
    new = h.client.list_alerts(status="new")
    assert h.ids["alert"] in {a.alert_id for a in new}
    assert {a.status for a in new} == {"new"}
    acked = h.client.acknowledge(h.ids["alert"], idempotency_key="k-ack")
    assert acked.alert_id == h.ids["alert"] and acked.status != "new"
    assert h.ids["alert"] not in {a.alert_id for a in h.client.list_alerts(status="new")}


def test_siem_contract_throttle_rule_until(siem):
    h, t = siem
    rule = h.client.get_rule(h.ids["rule"])
    assert isinstance(rule, SiemRule) and rule.throttled_until is None
    until = t.wall + timedelta(hours=2)
    # A SIEM that groups suppression by fields gets one; Sentinel's is rule-wide.
    fields = (h.ids["suppress_field"],) if h.ids["suppress_field"] else ()
    throttled = h.client.throttle_rule(h.ids["rule"], until, idempotency_key="k-th", fields=fields)
    assert throttled.throttled_until is not None
    assert abs((throttled.throttled_until - until).total_seconds()) <= 60
    assert throttled.suppress_fields == fields
    assert abs(throttled.suppress_period_seconds - 7200) <= 60
    again = h.client.get_rule(h.ids["rule"])
    assert again.throttled_until == throttled.throttled_until


def test_siem_contract_search_and_missing_rule(siem):
    h, _ = siem
    rows = h.client.search("index=main host=web-01", limit=3)
    assert isinstance(rows, list) and len(rows) <= 3 and all(isinstance(r, dict) for r in rows)
    with pytest.raises(NotFound):
        h.client.get_rule(h.ids["missing_rule"])
