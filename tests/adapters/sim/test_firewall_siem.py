"""Firewall rules with expiry; SIEM throttles that expire, alert suppression and search."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.contracts import FirewallRule
from adapters.errors import AdapterError, NotFound
from adapters.sim import ManualClock, SimEstate
from tests.adapters.sim.conftest import FW, START


def _rule(rule_id: str = "", minutes: float | None = 30) -> FirewallRule:
    return FirewallRule(
        rule_id=rule_id,
        action="block",
        source="203.0.113.7",
        destination="any",
        expires_at=START + timedelta(minutes=minutes) if minutes is not None else None,
    )


def _ids(sim: SimEstate) -> set[str]:
    return {r.rule_id for r in sim.firewalls[FW].list_rules()}


def test_firewall_rule_with_expiry_disappears(sim: SimEstate, clock: ManualClock) -> None:
    added = sim.firewalls[FW].add_rule(_rule("900"), idempotency_key="a")
    assert added.rule_id == "900"
    assert _ids(sim) == {"100", "900"}
    clock.advance(29 * 60)
    assert "900" in _ids(sim)
    clock.advance(60)
    assert _ids(sim) == {"100"}
    assert any(e["type"] == "firewall_rule_expired" for e in sim.events())


def test_firewall_manager_view_qualifies_rule_ids(sim: SimEstate) -> None:
    assert {r.rule_id for r in sim.firewall.list_rules()} == {f"{FW}/100"}
    added = sim.firewall.add_rule(_rule(f"{FW}/901"), idempotency_key="a")
    assert added.rule_id == f"{FW}/901"
    assert "901" in _ids(sim)
    assert sim.effects("firewall", "add_rule", f"{FW}/901") == 1
    sim.firewall.remove_rule(f"{FW}/901", idempotency_key="r")
    assert "901" not in _ids(sim)
    with pytest.raises(NotFound, match="no firewall 'fw-x'"):
        sim.firewall.remove_rule("fw-x/1", idempotency_key="r2")


def test_firewall_add_assigns_id_and_remove(sim: SimEstate) -> None:
    fw = sim.firewalls[FW]
    added = fw.add_rule(_rule("", None), idempotency_key="a")
    assert added.rule_id.startswith("r-")
    fw.remove_rule(added.rule_id, idempotency_key="r")
    assert added.rule_id not in _ids(sim)
    fw.remove_rule(added.rule_id, idempotency_key="r")  # replay: no error
    fw.remove_rule(added.rule_id, idempotency_key="r2")  # already gone: nothing to do
    assert sim.effects("firewall", "remove_rule") == 1


def test_firewall_refuses_duplicates_and_past_expiry(sim: SimEstate) -> None:
    with pytest.raises(AdapterError, match="already exists"):
        sim.firewalls[FW].add_rule(_rule("100"), idempotency_key="a")
    with pytest.raises(AdapterError, match="not in the future"):
        sim.firewalls[FW].add_rule(_rule("901", minutes=-5), idempotency_key="b")
    assert sim.effects("firewall", "add_rule") == 0
    assert len(sim.calls.filter(category="firewall", method="add_rule")) == 2


def test_firewall_expired_rule_replaced_by_new_one_survives(
    sim: SimEstate, clock: ManualClock
) -> None:
    fw = sim.firewalls[FW]
    fw.add_rule(_rule("900", minutes=10), idempotency_key="a")
    fw.remove_rule("900", idempotency_key="r")
    fw.add_rule(_rule("900", minutes=None), idempotency_key="b")
    clock.advance(3600)
    assert "900" in _ids(sim)


def test_siem_throttle_expires(sim: SimEstate, clock: ManualClock) -> None:
    until = START + timedelta(hours=2)
    rule = sim.siem.throttle_rule("r-brute", until, idempotency_key="t")
    assert rule.throttled_until == until
    clock.advance(2 * 3600 - 1)
    assert sim.siem.get_rule("r-brute").throttled_until == until
    clock.advance(1)
    assert sim.siem.get_rule("r-brute").throttled_until is None


def test_siem_throttle_suppresses_repeats_after_a_firing(
    sim: SimEstate, clock: ManualClock
) -> None:
    # As Splunk's alert suppression: the next firing alerts and opens a window; repeats with
    # the same entity inside it are swallowed, another entity still alerts.
    before = len(sim.siem.list_alerts())
    rule = sim.siem.throttle_rule("r-brute", START + timedelta(hours=1), idempotency_key="t")
    assert (rule.suppress_fields, rule.suppress_period_seconds) == (("entity",), 3600)
    first = sim.drift.raise_alert("r-brute", entity="contoso-ny-db-01")
    assert first is not None
    assert sim.drift.raise_alert("r-brute", entity="contoso-ny-db-01") is None
    assert sim.drift.raise_alert("r-brute", entity="contoso-ny-web-01") is not None
    assert len(sim.siem.list_alerts()) == before + 2
    clock.advance(3600)
    alert_id = sim.drift.raise_alert("r-brute", entity="contoso-ny-db-01")
    assert alert_id is not None
    # The setting stays: the repeat right after is suppressed again.
    assert sim.drift.raise_alert("r-brute", entity="contoso-ny-db-01") is None
    assert len(sim.siem.list_alerts(status="new")) >= 1
    acked = sim.siem.acknowledge(alert_id, idempotency_key="ack")
    assert acked.status == "in_progress"
    assert alert_id not in {a.alert_id for a in sim.siem.list_alerts(status="new")}


def test_siem_throttle_fields_group_the_suppression(sim: SimEstate) -> None:
    sim.siem.throttle_rule(
        "r-brute", START + timedelta(hours=1), fields=("severity",), idempotency_key="t"
    )
    assert sim.drift.raise_alert("r-brute", entity="a", severity="high") is not None
    assert sim.drift.raise_alert("r-brute", entity="b", severity="high") is None
    assert sim.drift.raise_alert("r-brute", entity="b", severity="low") is not None


def test_siem_throttle_refuses_past_time(sim: SimEstate) -> None:
    with pytest.raises(AdapterError, match="future"):
        sim.siem.throttle_rule("r-brute", START - timedelta(minutes=1), idempotency_key="t")
    with pytest.raises(NotFound):
        sim.siem.get_rule("r-none")


def test_siem_search_sees_estate_events(instant: SimEstate) -> None:
    instant.rmm.reboot("100002", idempotency_key="r")
    instant.identity.disable_user("u-bob", idempotency_key="d")
    boots = instant.siem.search("type=boot")
    assert [b["hostname"] for b in boots] == ["contoso-ny-web-01"]
    assert instant.siem.search("bob")[0]["type"] == "user_disabled"
    assert len(instant.siem.search("*", limit=1)) == 1
    assert instant.siem.search("type=nothing") == []
    with pytest.raises(AdapterError, match="limit"):
        instant.siem.search("*", limit=0)
