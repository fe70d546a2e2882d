"""RELIABILITY E1-E7 at the adapter level, for every vendor client.

Faults are injected in front of each vendor fake (the OAuth token endpoint is left alone), so the
real client code, the resilient HTTP layer and the error mapping are all exercised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from adapters.contracts import FirewallRule
from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    InvalidResponse,
    RateLimited,
    TransientError,
)
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import Harness

Call = Callable[[Harness], Any]
Pred = Callable[[httpx.Request], bool]

# For each vendor: an idempotent read, and (where the vendor has one) a non-idempotent write
# with a predicate that recognises the write's own request.
READS: dict[str, Call] = {
    "ninjaone": lambda h: h.client.list_devices(),
    "servicenow": lambda h: h.client.get_ticket(h.ids["ticket"]),
    "jira": lambda h: h.client.get_ticket(h.ids["ticket"]),
    "splunk": lambda h: h.client.get_rule(h.ids["rule"]),
    "okta": lambda h: h.client.get_user(h.ids["active_user"]),
    "entra": lambda h: h.client.get_user(h.ids["active_user"]),
    "veeam": lambda h: h.client.list_jobs(),
    "opnsense": lambda h: h.client.list_rules(),
    "fortigate": lambda h: h.client.list_rules(),
    "datto_rmm": lambda h: h.client.list_devices(),
    "connectwise": lambda h: h.client.get_ticket(h.ids["ticket"]),
    "sentinel": lambda h: h.client.get_rule(h.ids["rule"]),
}
WRITES: dict[str, tuple[Call, Pred]] = {
    "ninjaone": (
        lambda h: h.client.reboot("1", idempotency_key="k"),
        lambda r: r.url.path.endswith("/reboot/NORMAL"),
    ),
    "servicenow": (
        lambda h: h.client.comment(h.ids["ticket"], "n", idempotency_key="k"),
        lambda r: r.method == "PATCH",
    ),
    "jira": (
        lambda h: h.client.comment(h.ids["ticket"], "n", idempotency_key="k"),
        lambda r: r.url.path.endswith("/comment"),
    ),
    "okta": (
        lambda h: h.client.disable_user("00u1", idempotency_key="k"),
        lambda r: "/lifecycle/" in r.url.path,
    ),
    "entra": (
        lambda h: h.client.rotate_secret("app-1", overlap_minutes=5, idempotency_key="k"),
        lambda r: r.url.path.endswith("/addPassword"),
    ),
    "veeam": (
        lambda h: h.client.start_restore("rp-2", idempotency_key="k"),
        lambda r: r.url.path.startswith("/api/v1/restore/"),
    ),
    "opnsense": (
        lambda h: h.client.add_rule(
            FirewallRule(rule_id="", action="allow", source="10.0.0.1", destination="10.0.0.2"),
            idempotency_key="k",
        ),
        lambda r: r.url.path.endswith("/addRule"),
    ),
}
VENDORS = list(READS)
WRITERS = list(WRITES)


def build(name: str, t: FakeTime, **opts: Any) -> Harness:
    options = hs.OPTIONS.model_copy(update=opts) if opts else hs.OPTIONS
    return getattr(hs, name)(t, options)


def inject(
    h: Harness,
    action: Callable[[httpx.Request], httpx.Response],
    when: Pred | None = None,
    times: int = 10**6,
) -> list[int]:
    """Make matching non-token requests fail ``times`` times; returns a one-item hit counter."""
    hits = [0]

    def predicate(request: httpx.Request) -> bool:
        if h.fake.is_token(request) or hits[0] >= times or (when is not None and not when(request)):
            return False
        hits[0] += 1
        return True

    h.fake.faults.append((predicate, action))
    return hits


def raise_(exc_type: type[httpx.HTTPError]) -> Callable[[httpx.Request], httpx.Response]:
    def action(request: httpx.Request) -> httpx.Response:
        raise exc_type("injected", request=request)  # type: ignore[call-arg]

    return action


def status(code: int, **kw: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, **kw)


# --------------------------------------------------------------------------- E1
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "fault",
    [status(503, text="upstream down"), raise_(httpx.ConnectTimeout)],
    ids=["503", "connect-timeout"],
)
def test_e1_idempotent_read_retries_bounded_then_transient(vendor, fault):
    t = FakeTime()
    h = build(vendor, t)
    hits = inject(h, fault)
    with pytest.raises(TransientError) as info:
        READS[vendor](h)
    assert hits[0] == hs.OPTIONS.max_attempts
    assert len(t.sleeps) == hs.OPTIONS.max_attempts - 1
    assert all(0 <= s <= hs.OPTIONS.backoff_max for s in t.sleeps)
    assert str(info.value).startswith(f"{h.client.integration}.")


@pytest.mark.parametrize("vendor", VENDORS)
def test_e1_one_transient_failure_is_absorbed(vendor):
    h = build(vendor, FakeTime())
    inject(h, status(502), times=1)
    READS[vendor](h)  # succeeds on the retry


# --------------------------------------------------------------------------- E2
@pytest.mark.parametrize("vendor", WRITERS)
def test_e2_read_timeout_after_non_idempotent_write_is_ambiguous_sent_once(vendor):
    t = FakeTime()
    h = build(vendor, t)
    call, is_write = WRITES[vendor]
    inject(h, raise_(httpx.ReadTimeout), when=is_write)
    with pytest.raises(AmbiguousOutcome):
        call(h)
    assert sum(is_write(r) for r in h.fake.requests) == 1
    assert t.sleeps == []


# --------------------------------------------------------------------------- E3
@pytest.mark.parametrize("vendor", VENDORS)
def test_e3_retry_after_seconds_and_http_date_are_honoured(vendor):
    t = FakeTime()
    h = build(vendor, t)
    inject(h, status(429, headers={"Retry-After": "4"}), times=1)
    READS[vendor](h)
    when = format_datetime(t.wall + timedelta(seconds=9), usegmt=True)
    inject(h, status(429, headers={"Retry-After": when}), times=1)
    READS[vendor](h)
    assert t.sleeps == [4.0, 9.0]


@pytest.mark.parametrize("vendor", VENDORS)
def test_e3_huge_retry_after_is_capped_and_surfaced(vendor):
    t = FakeTime()
    h = build(vendor, t)
    inject(h, status(429, headers={"Retry-After": "604800"}))
    with pytest.raises(RateLimited) as info:
        READS[vendor](h)
    assert info.value.retry_after == hs.OPTIONS.retry_after_cap
    assert t.sleeps == [hs.OPTIONS.retry_after_cap] * (hs.OPTIONS.max_attempts - 1)


# --------------------------------------------------------------------------- E5
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "fault",
    [
        status(200, text="<html><body>Login</body></html>"),
        status(200, json={"unexpected": ["shape"]}),
        status(200, json=["also", "wrong"]),
        status(200, content=b"{" * 20_000),
    ],
    ids=["html", "wrong-object", "wrong-array", "oversized"],
)
def test_e5_malformed_or_oversized_response_is_invalid_naming_the_call(vendor, fault):
    h = build(vendor, FakeTime(), max_body_bytes=10_000)
    inject(h, fault)
    with pytest.raises(InvalidResponse) as info:
        READS[vendor](h)
    assert str(info.value).startswith(f"{h.client.integration}.")
    assert info.value.call  # names the vendor call


# --------------------------------------------------------------------------- E6
@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("code", [401, 403])
def test_e6_auth_error_is_not_retried(vendor, code):
    # A 401 with an OAuth token gets exactly one fresh token and one more try; a 403, or a
    # static credential, is never retried.
    t = FakeTime()
    h = build(vendor, t)
    hits = inject(h, status(code, json={"error": "nope"}))
    with pytest.raises(AuthError):
        READS[vendor](h)
    assert hits[0] == (2 if code == 401 and h.client.http.auth.refreshable else 1)
    assert t.sleeps == []


# --------------------------------------------------------------------------- E7
@pytest.mark.parametrize("vendor", VENDORS)
def test_e7_one_integration_circuit_opens_others_keep_working(vendor):
    t = FakeTime()
    down = build(vendor, t, max_attempts=1)
    other_name = VENDORS[(VENDORS.index(vendor) + 1) % len(VENDORS)]
    up = build(other_name, t)
    inject(down, status(500))
    for _ in range(hs.OPTIONS.failure_threshold):
        with pytest.raises(TransientError):
            READS[vendor](down)
    sent = len(down.fake.api_requests())
    with pytest.raises(CircuitOpen):
        READS[vendor](down)
    assert len(down.fake.api_requests()) == sent  # nothing sent while open
    READS[other_name](up)  # the other integration is unaffected
    assert up.client.http.breaker.state == "closed"
    t.advance(hs.OPTIONS.cool_down)
    down.fake.faults.clear()
    READS[vendor](down)  # the half-open probe succeeds and closes the circuit
    assert down.client.http.breaker.state == "closed"


# --------------------------------------------------------------------------- error tree
FAULTS = [
    raise_(httpx.ConnectError),
    raise_(httpx.ReadError),
    raise_(httpx.RemoteProtocolError),
    raise_(httpx.ReadTimeout),
    raise_(httpx.WriteTimeout),
    raise_(httpx.PoolTimeout),
    status(500),
    status(502),
    status(504),
    status(418, text="teapot"),
    status(400, text="<html>bad</html>"),
    status(409, json={"error": "conflict"}),
    status(200, content=b"\x00\xff"),
    status(404),
    status(429),
]
# A 2xx with an odd body is only wrong where the client reads the body (NinjaOne's actions
# answer 204 and a client rightly ignores what comes back), so these go to reads only.
SHAPE_FAULTS = [status(200, json={"weird": True}), status(200, json=None), status(200, json=[[]])]


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_failure_maps_into_the_error_tree(vendor):
    cases = [(f, READS[vendor]) for f in FAULTS + SHAPE_FAULTS]
    if vendor in WRITES:
        cases += [(f, WRITES[vendor][0]) for f in FAULTS]
    for fault, call in cases:
        h = build(vendor, FakeTime(), max_attempts=2)
        inject(h, fault)
        with pytest.raises(AdapterError) as info:
            call(h)
        assert not isinstance(info.value, httpx.HTTPError)
        text = str(info.value) + repr(info.value)
        assert not any(s in text for s in hs.SECRETS)
        assert info.value.integration == h.client.integration


def test_secrets_never_reach_the_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="opshand")
    for vendor in VENDORS:
        h = build(vendor, FakeTime())
        inject(h, status(503), times=1)  # one retry, so the retry path logs too
        READS[vendor](h)
        if vendor in WRITES:
            WRITES[vendor][0](h)
    assert "retrying" in caplog.text
    assert not any(s in caplog.text for s in [*hs.SECRETS, "okta-new-secret", "graph-new-secret"])
