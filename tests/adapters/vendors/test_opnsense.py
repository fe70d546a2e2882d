"""OPNsense against a fake built from opnsense/core: apply flows per version, legacy rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from adapters.contracts import FirewallRule
from adapters.errors import NotFound, RequestRejected
from adapters.vendors import OPNsenseClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, ok
from tests.adapters.vendors.fake_opnsense import ROLLBACK_SECONDS, FakeOPNsense
from tests.adapters.vendors.fakes_base import basic

RULE = FirewallRule(
    rule_id="",
    action="block",
    source="203.0.113.7",
    destination="any",
    description="block scanner",
    expires_at=datetime(2026, 3, 3, tzinfo=UTC),
)


def _on(version: str, **client_opts):
    t = FakeTime()
    fake = FakeOPNsense(t, version=version)
    client = OPNsenseClient(
        "https://fw.example", api_key="opn-key", api_secret=SecretStr("opn-secret"),
        http_client=fake.client(), options=hs.OPTIONS, hooks=t.hooks(), page_size=2,
        **client_opts,
    )  # fmt: skip
    return t, fake, client


def test_opnsense_26_1_applies_behind_a_savepoint_and_empty_cancel_is_success():
    # cancelRollback answers {"status": ""} (configd prints nothing): the old client called
    # that a failure and reported every add/remove as failed after it was applied.
    t, fake, client = _on("26.1.9")
    added = client.add_rule(RULE, idempotency_key="k-1")
    paths = [r.url.path for r in fake.requests]
    rev = fake.applied[-1]
    assert paths[-3:] == [
        "/api/firewall/filter/savepoint",
        f"/api/firewall/filter/apply/{rev}",
        f"/api/firewall/filter/cancelRollback/{rev}",
    ]
    assert fake.armed == {}  # the rollback timer was cancelled
    t.advance(ROLLBACK_SECONDS + 1)
    assert added.rule_id in {r.rule_id for r in client.list_rules()}  # not rolled back
    assert added.rule_id in fake.live
    assert all(r.headers["authorization"] == basic("opn-key", "opn-secret") for r in fake.requests)


def test_opnsense_26_7_applies_without_savepoint_and_the_rule_is_live():
    # From 26.7 savepoint/cancelRollback are gone: the old client got a 404 from savepoint,
    # so the rule was saved and never applied.
    _t, fake, client = _on("26.7.1")
    added = client.add_rule(RULE, idempotency_key="k-1")
    assert client.version == "26.7.1"
    assert added.rule_id in fake.live
    paths = [r.url.path for r in fake.requests]
    assert "/api/firewall/filter/savepoint" not in paths
    assert paths[-1] == "/api/firewall/filter/apply"
    client.remove_rule(added.rule_id, idempotency_key="k-2")
    assert added.rule_id not in fake.live
    # The version is read once.
    assert paths.count("/api/diagnostics/system/systemInformation") == 1


def test_opnsense_unknown_version_falls_back_to_plain_apply_when_savepoint_is_gone():
    _t, fake, client = _on("26.7")
    fake.routes = [r for r in fake.routes if "systemInformation" not in r[1].pattern]
    added = client.add_rule(RULE, idempotency_key="k-1")
    assert added.rule_id in fake.live
    assert [r.url.path for r in fake.requests][-2:] == [
        "/api/firewall/filter/savepoint",
        "/api/firewall/filter/apply",
    ]


def test_opnsense_forced_savepoint_flow_on_26_7_fails_clearly():
    _t, _fake, client = _on("26.7", apply_flow="savepoint")
    with pytest.raises(NotFound):
        client.add_rule(RULE, idempotency_key="k-1")


@pytest.mark.parametrize("version", ["25.7", "26.1.9", "26.7.1"])
def test_opnsense_legacy_and_automatic_rules_are_not_ours(version):
    # Since 25.7 searchRule merges legacy and plugin-generated rules into the rows; the old
    # client listed them as rules it could change.
    _t, fake, client = _on(version)
    listed = {r.rule_id for r in client.list_rules()}
    assert listed == set(fake.rules)
    assert not any("bogon" in r.description.lower() for r in client.list_rules())


def test_opnsense_apply_error_status_is_rejected():
    _t, fake, client = _on("26.7")
    fake.faults.append(
        (lambda r: r.url.path == "/api/firewall/filter/apply", lambda r: ok({"status": "error"}))
    )
    with pytest.raises(RequestRejected, match="apply answered 'error'"):
        client.add_rule(RULE, idempotency_key="k-1")


def test_opnsense_validation_failure_is_rejected_and_nothing_applied():
    h = hs.opnsense(FakeTime())
    bad = FirewallRule(rule_id="", action="block", source="not-a-net", destination="any")
    with pytest.raises(RequestRejected, match="source_net"):
        h.client.add_rule(bad, idempotency_key="k-2")
    assert h.fake.applied == []
