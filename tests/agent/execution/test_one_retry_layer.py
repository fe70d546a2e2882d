"""E1, E3, E7 end to end: one retry layer and one breaker between the executor and a vendor.

A real vendor client (Okta) answers over ``httpx.MockTransport``; the executor drives an
``identity.disable`` through it. The client's retry layer is the only one that repeats the call,
and each failed attempt is counted once, by the client's breaker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from adapters import HttpHooks, ResilienceOptions
from adapters.vendors.okta import OktaClient
from agent.execution import Adapters
from agent.wiring import sim_adapters
from tests.agent.execution.harness import build, enqueue, sim_for
from tests.estate import small_estate

_USER = {
    "id": "u-jdoe",
    "status": "ACTIVE",
    "profile": {"login": "jdoe@contoso.com", "displayName": "J Doe"},
}


class _Okta:
    """Answers reads; every lifecycle change fails with ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.changes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and "/lifecycle/" in path:
            self.changes.append(path)
            return httpx.Response(self.status, headers={"Retry-After": "1"}, json={})
        if path.endswith("/groups"):
            return httpx.Response(200, json=[])
        if path == "/api/v1/users/u-jdoe":
            return httpx.Response(200, json=_USER)
        return httpx.Response(404, json={"errorSummary": "not found"})


@pytest.mark.parametrize(("status", "kind"), [(503, "TransientError"), (429, "RateLimited")])
def test_failing_vendor_call_is_attempted_exactly_max_attempts_in_all(
    engine: Engine, tmp_path: Path, status: int, kind: str
) -> None:
    vendor = _Okta(status)
    waits: list[float] = []
    options = ResilienceOptions(max_attempts=3, failure_threshold=10)
    okta = OktaClient(
        "https://contoso.okta.com",
        api_token=SecretStr("okta-token"),
        http_client=httpx.Client(transport=httpx.MockTransport(vendor)),
        options=options,
        hooks=HttpHooks(sleep=lambda s: pytest.fail("the executor's pause must do the waiting")),
    )
    ents, rels = small_estate()
    sim = sim_for(ents, rels)
    adapters = Adapters(**{**sim_adapters(sim).__dict__, "identity": okta})
    w = build(engine, tmp_path, adapters=adapters, sleep=waits.append)
    c = enqueue(w, "identity.disable", ["jdoe"])
    [report] = w.ops.drain()

    # One layer retries: three attempts in all, not three per layer.
    assert vendor.changes == ["/api/v1/users/u-jdoe/lifecycle/suspend"] * 3
    assert len(waits) == 2  # the client waited twice, through the executor's pause
    change = w.ops.journal.get(c.id)
    assert change.state == "escalated"
    assert "gave up after 3 attempts" in str(change.result)
    # One breaker: the client's, each failed attempt counted once.
    breakers = w.executor.breakers()
    assert breakers["identity"] is okta.http.breaker
    assert okta.http.breaker.failures == 3
    assert not hasattr(w.executor.guard, "breakers")
    if status == 429:  # rate-limit waits are still audited for the requester
        assert [d["waited"] for d in report.delays] == [1.0, 1.0]


def test_breaker_opened_by_the_vendors_failures_holds_the_queue(
    engine: Engine, tmp_path: Path
) -> None:
    vendor = _Okta(503)
    okta = OktaClient(
        "https://contoso.okta.com",
        api_token=SecretStr("okta-token"),
        http_client=httpx.Client(transport=httpx.MockTransport(vendor)),
        options=ResilienceOptions(max_attempts=3, failure_threshold=2),
        hooks=HttpHooks(sleep=lambda s: None),
    )
    ents, rels = small_estate()
    adapters = Adapters(**{**sim_adapters(sim_for(ents, rels)).__dict__, "identity": okta})
    w = build(engine, tmp_path, adapters=adapters)
    first = enqueue(w, "identity.disable", ["jdoe"])
    second = enqueue(w, "identity.disable", ["jdoe"])
    w.ops.drain()
    # The first call's own two failures opened the circuit: it stopped there.
    assert len(vendor.changes) == 2
    result: Any = w.ops.journal.get(first.id).result
    assert "gave up after 2 attempts" in str(result) and "circuit open" in str(result)
    assert w.executor.breaker("identity").state == "open"
    assert w.ops.journal.get(second.id).state == "queued"
    assert "identity" in w.executor.held()
