"""NinjaOne against its spec-built fake: job ends, patch states, activity filters, quarantine."""

from __future__ import annotations

import pytest

from adapters.errors import RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.spec_contract import assert_in_spec


@pytest.mark.parametrize("result", ["FAILURE", "UNSUPPORTED", "UNCOMPLETED", "CANCELLED"])
def test_ninjaone_job_that_ends_without_success_is_failed_not_running(result):
    t = FakeTime()
    h = hs.ninjaone(t)
    h.fake.outcome["SCRIPTING"] = result
    job = h.client.run_script("1", "42", {}, idempotency_key="chg-1")
    assert h.client.job_status(job.job_id).state == "running"
    t.advance(60)
    done = h.client.job_status(job.job_id)
    assert done.state == "failed"
    assert done.finished_at is not None
    assert result in done.detail


def test_ninjaone_rejected_patch_is_not_pending():
    h = hs.ninjaone(FakeTime())
    states = {p.patch_id: p.status for p in h.client.patch_status("1")}
    assert "KB5035000" not in states  # REJECTED in NinjaOne: it will never install
    assert states["KB5034441"] == "pending"


def test_ninjaone_job_status_follows_its_own_series_not_the_newest_activity():
    t = FakeTime()
    h = hs.ninjaone(t)
    h.fake.duration = 300
    job = h.client.apply_patches("1", ["KB5034441"], reboot=False, idempotency_key="chg-2")
    t.advance(10)
    # A policy's scheduled patch scan starts and finishes while our install still runs.
    h.fake.duration = 5
    h.fake.start_job(1, "PATCH_MANAGEMENT", result="SUCCESS")
    t.advance(30)
    assert h.client.job_status(job.job_id).state == "running"
    asked = [r.url.params for r in h.fake.requests if r.url.path.endswith("/activities")]
    assert any("newerThan" in q and q.get("activityType") == "PATCH_MANAGEMENT" for q in asked)
    assert any("seriesUid" in q for q in asked)
    t.advance(600)
    assert h.client.job_status(job.job_id).state == "succeeded"


def test_ninjaone_apply_refuses_when_it_would_also_install_a_quarantined_patch():
    h = hs.ninjaone(FakeTime())
    # The cycle quarantined KB5036000 and asks only for KB5034441; NinjaOne would install both.
    h.fake.patches[1].append(
        {"id": "q1", "kbNumber": "KB5036000", "name": "bad", "status": "APPROVED", "type": "X"}
    )
    with pytest.raises(RequestRejected) as info:
        h.client.apply_patches("1", ["KB5034441"], reboot=False, idempotency_key="chg-3")
    assert "KB5036000" in str(info.value) and "reject" in str(info.value)
    assert not any(r.url.path.endswith("/patch/os/apply") for r in h.fake.requests)


def test_ninjaone_apply_refuses_a_patch_awaiting_approval():
    h = hs.ninjaone(FakeTime())
    with pytest.raises(RequestRejected) as info:
        h.client.apply_patches(
            "1", ["KB5034441", "KB2267602"], reboot=False, idempotency_key="chg-4"
        )
    assert "KB2267602" in str(info.value)


def test_ninjaone_every_request_is_in_the_published_spec():
    t = FakeTime()
    h = hs.ninjaone(t)
    h.client.list_devices()
    h.client.patch_status("1")
    jobs = [
        h.client.apply_patches("1", ["KB5034441"], reboot=True, idempotency_key="a"),
        h.client.reboot("1", idempotency_key="b"),
        h.client.run_script("1", "42", {"x": "1"}, idempotency_key="c"),
    ]
    t.advance(60)
    assert [h.client.job_status(j.job_id).state for j in jobs] == ["succeeded"] * 3
    assert_in_spec("ninjaone", h.fake.requests)
