"""Splunk throttling is alert suppression: per firing, per field values, fields required when
a search alerts per result. Checked against the documentation-built fake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.errors import AdapterError, RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fakes_base import form_of
from tests.adapters.vendors.spec_contract import assert_in_spec

RULE = "Access - Brute Force - Rule"


def test_splunk_per_result_search_throttle_sends_the_suppression_fields():
    t = FakeTime()
    h = hs.splunk(t)
    rule = h.client.throttle_rule(
        RULE, t.wall + timedelta(hours=1), idempotency_key="k-1", fields=("dest", "src")
    )
    assert form_of(h.fake.requests[-1])["alert.suppress.fields"] == "dest,src"
    assert rule.suppress_fields == ("dest", "src") and rule.suppress_period_seconds == 3600
    # What Splunk then does: the next firing alerts, its repeats are suppressed for the hour,
    # other values still alert, and the setting outlives the hour.
    assert h.fake.fire(RULE, {"dest": "vpn-01", "src": "203.0.113.9"})
    assert not h.fake.fire(RULE, {"dest": "vpn-01", "src": "203.0.113.9"})
    assert h.fake.fire(RULE, {"dest": "vpn-02", "src": "203.0.113.9"})
    t.advance(3601)
    assert h.fake.fire(RULE, {"dest": "vpn-01", "src": "203.0.113.9"})
    assert not h.fake.fire(RULE, {"dest": "vpn-01", "src": "203.0.113.9"})


def test_splunk_per_result_throttle_without_fields_is_refused_before_sending():
    t = FakeTime()
    h = hs.splunk(t)
    with pytest.raises(RequestRejected, match=r"alert\.suppress\.fields"):
        h.client.throttle_rule(RULE, t.wall + timedelta(hours=1), idempotency_key="k-2")
    assert [r for r in h.fake.requests if r.method == "POST"] == []


def test_splunk_throttle_keeps_fields_already_on_the_search():
    t = FakeTime()
    h = hs.splunk(t)
    h.fake.saved[RULE]["alert.suppress.fields"] = "user"
    rule = h.client.throttle_rule(RULE, t.wall + timedelta(hours=1), idempotency_key="k-3")
    assert form_of(h.fake.requests[-1])["alert.suppress.fields"] == "user"
    assert rule.suppress_fields == ("user",)


def test_splunk_digest_search_needs_no_fields():
    t = FakeTime()
    h = hs.splunk(t)
    name = "Threat - Daily Summary - Rule"
    rule = h.client.throttle_rule(name, t.wall + timedelta(hours=1), idempotency_key="k-4")
    assert "alert.suppress.fields" not in form_of(h.fake.requests[-1])
    assert rule.suppress_period_seconds == 3600


def test_splunk_bad_field_name_is_refused():
    t = FakeTime()
    h = hs.splunk(t)
    with pytest.raises(AdapterError, match="field name"):
        h.client.throttle_rule(
            RULE, t.wall + timedelta(hours=1), idempotency_key="k-5", fields=("dest,src=1",)
        )


def test_splunk_every_request_is_in_the_documented_api():
    t = FakeTime()
    h = hs.splunk(t)
    h.client.list_alerts(status="new")
    h.client.acknowledge(h.ids["alert"], idempotency_key="a")
    h.client.get_rule(RULE)
    h.client.throttle_rule(RULE, t.wall + timedelta(hours=1), idempotency_key="b", fields=("dest",))
    h.client.search("index=main")
    assert_in_spec("splunk", h.fake.requests)
