"""Datto RMM: quick jobs for actions, job results, patch report, the 600/min budget, spec paths."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from adapters.errors import RequestRejected
from adapters.vendors import DattoRmmClient
from adapters.vendors.datto_rmm import RequestBudget
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.fake_datto import FakeDatto
from tests.adapters.vendors.spec_contract import assert_in_spec


def test_datto_patch_apply_runs_the_component_with_exactly_those_kbs():
    t = FakeTime()
    h = hs.datto_rmm(t)
    job = h.client.apply_patches("dev-1", ["KB5034441"], reboot=True, idempotency_key="chg-1")
    put = next(r for r in h.fake.requests if r.method == "PUT")
    assert put.url.path == "/api/v2/device/dev-1/quickjob"
    assert body_of(put)["jobComponent"] == {
        "componentUid": "cmp-patch",
        "variables": [{"name": "KBs", "value": "KB5034441"}, {"name": "Reboot", "value": "true"}],
    }
    assert h.client.job_status(job.job_id).state == "running"
    t.advance(60)
    assert h.client.job_status(job.job_id).state == "succeeded"


def test_datto_ignored_patch_is_not_pending():
    h = hs.datto_rmm(FakeTime())
    assert "KB5035000" not in {p.patch_id for p in h.client.patch_status("dev-1")}


def test_datto_failed_deployment_is_failed_and_unknown_result_is_unknown():
    t = FakeTime()
    h = hs.datto_rmm(t)
    job = h.client.run_script("dev-1", "cmp-42", {"mode": "full"}, idempotency_key="s-1")
    h.fake.jobs["job-1"]["outcome"] = "failure"
    t.advance(60)
    assert h.client.job_status(job.job_id).state == "failed"
    h.fake.jobs["job-1"]["outcome"] = "somethingNew"
    assert h.client.job_status(job.job_id).state == "unknown"


def test_datto_without_components_refuses_patch_and_reboot():
    t = FakeTime()
    fake = FakeDatto(t)
    client = DattoRmmClient(
        "https://merlot-api.example",
        api_key="datto-key",
        api_secret=SecretStr("datto-secret"),
        http_client=fake.client(),
        hooks=t.hooks(),
    )
    with pytest.raises(RequestRejected, match="patch_component_uid"):
        client.apply_patches("dev-1", ["KB5034441"], reboot=False, idempotency_key="k")
    with pytest.raises(RequestRejected, match="reboot_component_uid"):
        client.reboot("dev-1", idempotency_key="k")
    assert fake.api_requests() == []


def test_datto_request_budget_waits_instead_of_going_over():
    t = FakeTime()
    budget = RequestBudget(600, clock=lambda: t.mono, sleep=t.sleep)
    for _ in range(600):
        budget.spend()
    assert t.sleeps == []
    budget.spend()  # the 601st in the same minute waits for the window to move
    assert t.sleeps == [60.0]
    t.advance(1)
    budget.spend()
    assert len(t.sleeps) == 1  # the window has room again after the wait


def test_datto_client_spends_its_budget_on_every_api_call():
    t = FakeTime()
    fake = FakeDatto(t)
    client = DattoRmmClient(
        "https://merlot-api.example",
        api_key="datto-key",
        api_secret=SecretStr("datto-secret"),
        http_client=fake.client(),
        hooks=t.hooks(),
        requests_per_minute=3,
        page_size=2,
    )
    client.list_devices()  # two pages
    client.patch_status("dev-1")  # two pages: the fourth call in a minute must wait
    assert any(s > 0 for s in t.sleeps)
    with pytest.raises(ValueError, match="600"):
        DattoRmmClient(
            "https://x.example",
            api_key="k",
            api_secret=SecretStr("s"),
            http_client=fake.client(),
            requests_per_minute=1000,
        )


def test_datto_every_request_is_in_the_documented_api():
    t = FakeTime()
    h = hs.datto_rmm(t)
    h.client.list_devices()
    jobs = [
        h.client.apply_patches("dev-1", ["KB5034441"], reboot=False, idempotency_key="a"),
        h.client.reboot("dev-1", idempotency_key="b"),
        h.client.run_script("dev-1", "cmp-42", {}, idempotency_key="c"),
    ]
    t.advance(60)
    assert {h.client.job_status(j.job_id).state for j in jobs} == {"succeeded"}
    assert_in_spec("datto_rmm", h.fake.requests)
