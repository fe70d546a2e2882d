"""Every request each vendor client sends is in the vendor's published spec (specs/*.json)."""

from __future__ import annotations

import httpx
import pytest

from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.spec_contract import (
    SpecViolation,
    assert_in_spec,
    available_specs,
    load_spec,
)

# Clients whose fakes name no spec: their per-vendor tests check every request they made
# against specs/<vendor>.json afterwards, with ``spec_contract.assert_in_spec`` (the same check
# as the fakes'). Listed so neither way is silently skipped.
AWAITING_SPEC = {
    "ninjaone",
    "datto_rmm",
    "connectwise",
    "splunk",
    "sentinel",
    "entra",
    "veeam",
    "fortigate",
}


def _workload(h: hs.Harness) -> None:
    """The reads and writes of each category, enough to touch every operation a client uses."""
    c, ids = h.client, h.ids
    if h.name in ("okta", "entra"):
        c.list_users()
        c.disable_user(ids["active_user"], idempotency_key="spec-1")
        c.enable_user(ids["active_user"], idempotency_key="spec-2")
        c.revoke_sessions(ids["active_user"], idempotency_key="spec-3")
        c.rotate_secret(ids["service_app"], overlap_minutes=30, idempotency_key="spec-4")
    elif h.name in ("servicenow", "jira_sm"):
        t = c.create_ticket("t", "d", priority="high", idempotency_key="spec-1")
        c.comment(t.ticket_id, "note", idempotency_key="spec-2")
        c.escalate(t.ticket_id, "why", idempotency_key="spec-3")
        c.close(t.ticket_id, "fixed", idempotency_key="spec-4")
    elif h.name == "opnsense":
        from datetime import UTC, datetime

        from adapters.contracts import FirewallRule

        rule = FirewallRule(
            rule_id="", action="block", source="203.0.113.7", destination="any",
            port="any", protocol="any", description="spec",
            expires_at=datetime(2026, 3, 3, tzinfo=UTC),
        )  # fmt: skip
        added = c.add_rule(rule, idempotency_key="spec-1")
        c.remove_rule(added.rule_id, idempotency_key="spec-2")
    else:  # pragma: no cover - a new vendor must say what its workload is
        raise AssertionError(f"no spec workload for {h.name}")


SPEC_FACTORIES = [f for f in hs.ALL_FACTORIES if f.__name__ not in AWAITING_SPEC]


@pytest.mark.parametrize("factory", SPEC_FACTORIES, ids=hs.ids(SPEC_FACTORIES))
def test_client_requests_are_all_in_the_vendor_spec(factory):
    h = factory(FakeTime())
    assert h.fake is not None and h.fake.spec, f"{h.name}: its fake must name a spec fragment"
    _workload(h)
    # The fake checked each request as it came; every one matched an operation of the spec.
    assert len(h.fake.operations) == len(h.fake.requests) > 0


@pytest.mark.parametrize("factory", hs.ALL_FACTORIES, ids=hs.ids(hs.ALL_FACTORIES))
def test_every_vendor_fake_is_spec_checked_or_listed_as_awaiting(factory):
    h = factory(FakeTime())
    assert h.fake is not None
    if factory.__name__ in AWAITING_SPEC:
        assert h.fake.spec is None, f"{h.name} has a spec now: drop it from AWAITING_SPEC"
    else:
        assert h.fake.spec in available_specs()


@pytest.mark.parametrize("name", available_specs())
def test_every_spec_fragment_loads_and_names_its_source(name):
    spec = load_spec(name)
    assert spec.operations, f"specs/{name}.json has no operations"
    assert spec.source.get("url") or spec.source.get("repo")


def _req(method: str, url: str) -> httpx.Request:
    return httpx.Request(method, url)


def test_spec_check_refuses_unknown_path_method_and_query():
    okta = load_spec("okta")
    okta.check(_req("GET", "https://o.example/api/v1/users/00u1"))
    okta.check(_req("DELETE", "https://o.example/api/v1/users/00u1/sessions?oauthTokens=true"))
    with pytest.raises(SpecViolation, match=r"not in specs/okta\.json"):
        okta.check(_req("POST", "https://o.example/api/v1/users/00u1/sessions"))
    with pytest.raises(SpecViolation, match=r"not in specs/okta\.json"):
        okta.check(_req("GET", "https://o.example/api/v1/userz"))
    with pytest.raises(SpecViolation, match=r"\['limit'\]"):
        okta.check(_req("GET", "https://o.example/api/v1/users/00u1/groups?limit=200"))


def test_spec_path_parameter_is_one_segment():
    okta = load_spec("okta")
    # An id smuggling a slash must not match a one-segment template.
    with pytest.raises(SpecViolation):
        okta.check(_req("GET", "https://o.example/api/v1/users/00u1/extra/groups"))
    okta.check(_req("GET", "https://o.example/api/v1/users/a%2Fb"))


def test_assert_in_spec_reads_the_written_down_fragments_too():
    ok = _req("GET", "https://n.example/api/v2/devices-detailed?pageSize=10&after=5")
    assert_in_spec("ninjaone", [ok], prefix="/api")
    with pytest.raises(AssertionError, match=r"POST /v2/devices-detailed is not in specs/ninjaone"):
        assert_in_spec("ninjaone", [ok, _req("POST", "https://n.example/v2/devices-detailed")])
    with pytest.raises(AssertionError, match=r"\['sort'\]"):
        assert_in_spec("ninjaone", [_req("GET", "https://n.example/v2/devices-detailed?sort=x")])
