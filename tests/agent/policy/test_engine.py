from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from agent.policy import PolicyInput, explain, load_policy_text

COMBINE = """
version: 1
defaults: {decision: consent, approvers: approvers, quorum: 1, expires_in: 1h}
rules:
  - id: reboot-auto
    when: input.action == "host.reboot"
    decision: auto
    reason: reboots are routine
  - id: prod-consent
    when: input.targets.exists(t, t.env == "prod")
    decision: consent
    approvers: prod-owners
    quorum: 2
    expires_in: 2h
    reason: prod needs an owner
  - id: collateral-consent
    when: input.blast_radius.collateral > 0
    decision: consent
    approvers: sre
    quorum: 2
    expires_in: 20m
    reason: collateral
  - id: critical-consent
    when: input.blast_radius.critical_collateral > 0
    decision: consent
    approvers: cab
    quorum: 3
    expires_in: 45m
    reason: critical collateral
  - id: freeze-deny
    when: input.time.freeze
    decision: deny
    reason: frozen
"""


@pytest.fixture(scope="module")
def policy():
    return load_policy_text(COMBINE, source="combine.yaml")


def _in(**data):
    return PolicyInput.from_partial(data)


def test_engine_explicit_auto(policy):
    d = policy.decide(_in(action="host.reboot", targets=[{"env": "dev"}]))
    assert d.outcome == "auto"
    assert d.matched == ("reboot-auto",)
    assert d.deciding == ("reboot-auto",)
    assert d.reasons == {"reboot-auto": "reboots are routine"}
    assert (d.approvers, d.quorum, d.expires_in) == (None, 0, None)
    assert d.policy_hash == policy.hash


def test_engine_consent_beats_auto(policy):
    d = policy.decide(_in(action="host.reboot", targets=[{"env": "prod"}]))
    assert d.outcome == "consent"
    assert d.matched == ("reboot-auto", "prod-consent")
    assert d.deciding == ("prod-consent",)
    assert (d.approvers, d.quorum, d.expires_in) == ("prod-owners", 2, timedelta(hours=2))


def test_engine_strictest_consent_highest_quorum_shortest_expiry(policy):
    d = policy.decide(
        _in(
            action="host.reboot",
            targets=[{"env": "prod"}],
            blast_radius={"collateral": 3, "critical_collateral": 1},
        )
    )
    assert d.outcome == "consent"
    assert d.matched == ("reboot-auto", "prod-consent", "collateral-consent", "critical-consent")
    # Highest quorum (3) and its group; shortest expiry (20m) across all matching consent rules.
    assert (d.approvers, d.quorum) == ("cab", 3)
    assert d.expires_in == timedelta(minutes=20)


def test_engine_quorum_tie_takes_first_rule_in_file_order(policy):
    d = policy.decide(_in(targets=[{"env": "prod"}], blast_radius={"collateral": 1}))
    assert d.quorum == 2
    assert d.approvers == "prod-owners"
    assert d.expires_in == timedelta(minutes=20)


def test_engine_deny_beats_everything(policy):
    d = policy.decide(
        _in(
            action="host.reboot",
            targets=[{"env": "prod"}],
            blast_radius={"critical_collateral": 1},
            time={"freeze": True},
        )
    )
    assert d.outcome == "deny"
    assert d.deciding == ("freeze-deny",)
    assert "freeze-deny" in d.matched and "prod-consent" in d.matched
    assert (d.approvers, d.quorum) == (None, 0)


def test_engine_default_applies_when_nothing_matches(policy):
    d = policy.decide(_in(action="ticket.comment"))
    assert d.outcome == "consent"
    assert d.default_applied
    assert d.matched == () and d.deciding == ()
    assert "default" in d.reasons
    assert (d.approvers, d.quorum, d.expires_in) == ("approvers", 1, timedelta(hours=1))


def test_engine_default_deny():
    policy = load_policy_text(
        "version: 1\ndefaults: {decision: deny}\n"
        "rules:\n  - {id: a, when: 'input.action == \"x\"', decision: auto, reason: r}\n"
    )
    assert policy.decide(_in(action="y")).outcome == "deny"
    assert policy.decide(_in(action="x")).outcome == "auto"


def test_engine_evaluation_error_is_deny_with_reason():
    # The guard makes the load-time probe pass; the real input then lacks the key.
    policy = load_policy_text(
        "version: 1\nrules:\n"
        "  - id: throttle\n"
        '    when: input.action == "siem.rule.throttle" && input.params.minutes <= 60\n'
        "    decision: auto\n"
        "    reason: short throttle\n"
    )
    d = policy.decide(_in(action="siem.rule.throttle", params={}))
    assert d.outcome == "deny"
    assert d.matched == ("throttle",)
    assert d.reasons["throttle"].startswith("policy error in rule throttle: ")
    assert "minutes" in d.reasons["throttle"]
    ok = policy.decide(_in(action="siem.rule.throttle", params={"minutes": 30}))
    assert ok.outcome == "auto"


def test_engine_non_boolean_at_runtime_is_deny():
    policy = load_policy_text(
        "version: 1\nrules:\n"
        "  - id: weird\n"
        "    when: 'input.action == \"x\" ? input.params.v : false'\n"
        "    decision: auto\n"
        "    reason: r\n"
    )
    d = policy.decide(_in(action="x", params={"v": "yes"}))
    assert d.outcome == "deny"
    assert "not a boolean" in d.reasons["weird"]


def test_engine_same_input_same_decision(policy):
    data = {"action": "host.reboot", "targets": [{"env": "prod"}], "time": {"hour": 4}}
    night = policy.decide(_in(**data))
    day = policy.decide(_in(**{**data, "time": {"hour": 14}}))
    assert night == policy.decide(_in(**data))
    assert night.model_dump(exclude={"policy_hash"}) == day.model_dump(exclude={"policy_hash"})


def test_explain_reports_each_rule(policy):
    e = explain(policy, _in(action="host.reboot", targets=[{"env": "prod"}]))
    by_id = {t.id: t for t in e.rules}
    assert [t.id for t in e.rules] == [r.id for r in policy.rules]
    assert by_id["reboot-auto"].matched and by_id["prod-consent"].matched
    assert not by_id["freeze-deny"].matched
    assert e.decision.outcome == "consent"
    text = e.render()
    assert "prod-consent: match" in text
    assert "decision: consent (2 of prod-owners)" in text


def test_explain_shows_errors():
    policy = load_policy_text(
        "version: 1\nrules:\n"
        '  - {id: e, when: "input.action == \\"x\\" && input.params.k == 1", '
        "decision: auto, reason: r}\n"
    )
    e = explain(policy, _in(action="x"))
    assert e.rules[0].error is not None
    assert "ERROR" in e.render()


def test_input_defaults_and_partial_fill():
    d = PolicyInput.defaults()
    assert d.targets == [] and d.target_count == 0 and d.source == "person"
    assert d.blast_radius.by_kind["host"] == 0
    assert d.blast_radius.by_criticality["critical"] == 0
    p = PolicyInput.from_partial({"targets": [{"env": "prod"}, {}], "time": {"freeze": True}})
    assert p.target_count == 2
    # unknown is not safe: a target with nothing said about it is of unknown env and coverage
    assert p.targets[0].env == "prod" and p.targets[1].env == "unknown"
    assert p.targets[1].coverage == "none"
    assert p.time.freeze and p.time.hour == 12


def test_input_rejects_unknown_and_inconsistent_fields():
    with pytest.raises(ValidationError, match="actoin"):
        PolicyInput.from_partial({"actoin": "x"})
    with pytest.raises(ValidationError, match="target_count"):
        PolicyInput.from_partial({"targets": [{}, {}], "target_count": 1})
    with pytest.raises(ValidationError):
        PolicyInput.from_partial({"recent_failure_rate": 1.5})
