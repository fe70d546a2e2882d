"""FortiGate over FortiOS REST: objects per rule, native expiry, clean removal, spec paths."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.contracts import FirewallRule
from adapters.errors import RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.spec_contract import assert_in_spec


def _rule(t: FakeTime, **change) -> FirewallRule:
    base = {
        "rule_id": "",
        "action": "allow",
        "source": "10.0.5.0/24",
        "destination": "10.0.1.7",
        "port": "8443",
        "protocol": "tcp",
        "description": "temp access for CR-9",
        "expires_at": t.wall + timedelta(hours=4),
    }
    return FirewallRule(**(base | change))


def test_fortigate_rule_expires_in_fortios_itself():
    t = FakeTime()
    h = hs.fortigate(t)
    added = h.client.add_rule(_rule(t), idempotency_key="cr-9")
    policy = h.fake.tables["firewall/policy"][added.rule_id]
    schedule = h.fake.tables["firewall.schedule/onetime"][policy["schedule"]]
    assert schedule["end"] == "13:00 2026/03/02"  # FortiOS stops matching at the expiry
    assert policy["action"] == "accept" and policy["service"] == [{"name": "opshand-cr-9-svc"}]
    svc = h.fake.tables["firewall.service/custom"]["opshand-cr-9-svc"]
    assert svc["tcp-portrange"] == "8443"
    assert h.fake.tables["firewall/address"]["opshand-cr-9-src"]["subnet"] == (
        "10.0.5.0 255.255.255.0"
    )


def test_fortigate_remove_deletes_policy_and_its_objects():
    t = FakeTime()
    h = hs.fortigate(t)
    added = h.client.add_rule(_rule(t), idempotency_key="cr-9")
    h.client.remove_rule(added.rule_id, idempotency_key="rm-9")
    assert added.rule_id not in h.fake.tables["firewall/policy"]
    assert not [n for n in h.fake.tables["firewall/address"] if n.startswith("opshand-")]
    assert h.fake.tables["firewall.schedule/onetime"] == {}
    assert h.fake.tables["firewall.service/custom"] == {}


def test_fortigate_retried_add_reuses_objects_left_by_a_failed_attempt():
    t = FakeTime()
    h = hs.fortigate(t)
    # A first attempt made the source address, then the connection dropped.
    h.fake.tables["firewall/address"]["opshand-cr-9-src"] = {
        "name": "opshand-cr-9-src",
        "type": "ipmask",
        "subnet": "10.9.9.0 255.255.255.0",
    }
    added = h.client.add_rule(_rule(t), idempotency_key="cr-9")
    assert h.fake.tables["firewall/address"]["opshand-cr-9-src"]["subnet"] == (
        "10.0.5.0 255.255.255.0"
    )
    assert added.rule_id in h.fake.tables["firewall/policy"]


@pytest.mark.parametrize(
    "change", [{"source": "not-a-net"}, {"protocol": "icmp"}, {"port": "443;rm"}]
)
def test_fortigate_bad_rules_are_refused_before_any_write(change):
    t = FakeTime()
    h = hs.fortigate(t)
    with pytest.raises(RequestRejected):
        h.client.add_rule(_rule(t, **change), idempotency_key="bad")
    assert not [r for r in h.fake.requests if r.method == "POST" and "policy" in r.url.path]


def test_fortigate_lists_existing_policy_with_names_resolved():
    h = hs.fortigate(FakeTime())
    rule = {r.rule_id: r for r in h.client.list_rules()}["1"]
    assert (rule.source, rule.destination, rule.port) == ("10.0.0.0/24", "10.0.1.5", "HTTPS")


def test_fortigate_every_request_is_in_the_reference():
    t = FakeTime()
    h = hs.fortigate(t)
    added = h.client.add_rule(_rule(t), idempotency_key="cr-9")
    h.client.add_rule(_rule(t, port="any", protocol="any", expires_at=None), idempotency_key="x")
    h.client.remove_rule(added.rule_id, idempotency_key="rm")
    h.client.remove_rule("999", idempotency_key="rm2")
    assert all(r.url.params.get("vdom") == "root" for r in h.fake.requests)
    assert body_of(next(r for r in h.fake.requests if r.method == "POST"))["name"]
    assert_in_spec("fortigate", h.fake.requests)
