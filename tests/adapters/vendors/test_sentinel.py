"""Microsoft Sentinel: etag-guarded incident updates, rule-wide suppression, read-only KQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.errors import AdapterError, RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.fake_sentinel import RULE
from tests.adapters.vendors.spec_contract import assert_in_spec


def test_sentinel_acknowledge_puts_active_with_the_incident_etag():
    h = hs.sentinel(FakeTime())
    alert = h.client.acknowledge("inc-1", idempotency_key="a-1")
    assert alert.status == "in_progress"
    put = next(r for r in h.fake.requests if r.method == "PUT")
    assert body_of(put)["etag"] == '"e-1-1"' and body_of(put)["properties"]["status"] == "Active"


def test_sentinel_concurrent_edit_is_not_overwritten():
    h = hs.sentinel(FakeTime())
    original = h.fake.get_incident

    def moved_on(request, name):
        answer = original(request, name)
        h.fake.incidents[name]["etag"] = '"someone-else"'  # an analyst saved in between
        return answer

    h.fake.routes = [(m, p, moved_on if f == original else f) for m, p, f in h.fake.routes]
    with pytest.raises(AdapterError):
        h.client.acknowledge("inc-1", idempotency_key="a-2")
    assert h.fake.incidents["inc-1"]["properties"]["status"] == "New"


def test_sentinel_throttle_is_rule_suppression_within_its_limits():
    t = FakeTime()
    h = hs.sentinel(t)
    rule = h.client.throttle_rule(RULE, t.wall + timedelta(hours=3), idempotency_key="t-1")
    props = h.fake.rules[RULE]["properties"]
    assert (props["suppressionEnabled"], props["suppressionDuration"]) == (True, "PT3H")
    assert rule.suppress_period_seconds == 3 * 3600 and rule.suppress_fields == ()
    with pytest.raises(RequestRejected, match="24 hours"):
        h.client.throttle_rule(RULE, t.wall + timedelta(days=2), idempotency_key="t-2")
    with pytest.raises(RequestRejected, match="fields"):
        h.client.throttle_rule(
            RULE, t.wall + timedelta(hours=1), idempotency_key="t-3", fields=("Computer",)
        )
    with pytest.raises(RequestRejected, match="scheduled"):
        h.client.throttle_rule("fusion", t.wall + timedelta(hours=1), idempotency_key="t-4")
    h.client.throttle_rule(RULE, t.wall - timedelta(minutes=1), idempotency_key="t-5")
    assert h.fake.rules[RULE]["properties"]["suppressionEnabled"] is False


def test_sentinel_search_is_read_only_and_bounded():
    h = hs.sentinel(FakeTime())
    rows = h.client.search("Heartbeat | where Computer == 'web-01'", limit=3)
    assert len(rows) == 3 and rows[0]["Computer"] == "web-01"
    assert h.fake.queries[-1].endswith("| take 3")
    with pytest.raises(RequestRejected, match="read-only"):
        h.client.search(".drop table Heartbeat")


def test_sentinel_every_request_is_in_the_reference():
    t = FakeTime()
    h = hs.sentinel(t)
    h.client.list_alerts()
    h.client.list_alerts(status="new")
    h.client.acknowledge("inc-1", idempotency_key="a")
    h.client.throttle_rule(RULE, t.wall + timedelta(hours=1), idempotency_key="b")
    h.client.search("SigninLogs")
    assert_in_spec("sentinel", h.fake.requests)
