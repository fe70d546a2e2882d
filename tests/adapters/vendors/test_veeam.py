"""Veeam restores end in production: a full VM restore by default, or Instant Recovery that the
client finishes by migration; the job says which ran (reference-built fake)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from adapters.vendors import VeeamClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_veeam import FakeVeeam
from tests.adapters.vendors.spec_contract import assert_in_spec


def _client(t: FakeTime, fake: FakeVeeam, mode: str) -> VeeamClient:
    return VeeamClient(
        "https://vbr.example:9419",
        username="svc-opshand",
        password=SecretStr("veeam-pass"),
        http_client=fake.client(),
        hooks=t.hooks(),
        page_size=2,
        restore_mode=mode,
    )


def _run(client, job_id: str, t: FakeTime, polls: int = 6):
    seen = []
    for _ in range(polls):
        t.advance(60)
        job = client.restore_status(job_id)
        seen.append(job)
        if job.state in ("succeeded", "failed"):
            break
    return seen


def test_veeam_default_restore_is_a_full_vm_restore_and_says_so():
    t = FakeTime()
    h = hs.veeam(t)
    job = h.client.start_restore("rp-2", idempotency_key="k-1")
    done = _run(h.client, job.job_id, t)[-1]
    assert done.state == "succeeded" and done.detail.startswith("full VM restore")
    assert h.fake.mounts == {}  # nothing left running from the repository


def test_veeam_instant_recovery_is_not_done_until_migrated():
    t = FakeTime()
    fake = FakeVeeam(t)
    client = _client(t, fake, "instant")
    job = client.start_restore("rp-2", idempotency_key="k-2")
    assert job.job_id.startswith("ir:") and "instant recovery" in job.detail
    seen = _run(client, job.job_id, t)
    assert fake.migrations == ["m-1"]  # migrated exactly once
    assert [j.state for j in seen[:-1]] == ["running"] * (len(seen) - 1)
    assert seen[-1].state == "succeeded"
    assert "migration" in seen[-1].detail
    assert fake.mounts == {}


def test_veeam_instant_recovery_session_alone_never_reads_as_succeeded():
    # On the old client the instant recovery session was the job: a session that ends because
    # someone stopped the mount would have read as a finished restore.
    t = FakeTime()
    fake = FakeVeeam(t)
    client = _client(t, fake, "instant")
    job = client.start_restore("rp-2", idempotency_key="k-3")
    fake.mounts["m-1"]["state"] = "Failed"
    fake.mounts["m-1"]["errorMessage"] = "datastore full"
    last = _run(client, job.job_id, t)[-1]
    assert last.state == "failed" and "datastore full" in last.detail


def test_veeam_restore_mode_is_checked():
    t = FakeTime()
    with pytest.raises(ValueError, match="restore_mode"):
        _client(t, FakeVeeam(t), "quick")


def test_veeam_every_request_is_in_the_reference():
    t = FakeTime()
    fake = FakeVeeam(t)
    for mode in ("full", "instant"):
        client = _client(t, fake, mode)
        client.list_jobs()
        client.restore_points("db-prod-01")
        _run(client, client.start_restore("rp-2", idempotency_key=mode).job_id, t)
    assert_in_spec("veeam", fake.requests)
