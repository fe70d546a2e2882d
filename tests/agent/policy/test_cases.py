from __future__ import annotations

from pathlib import Path

import pytest

from agent.policy import (
    PolicyError,
    PolicyInput,
    default_cases_path,
    load_policy,
    load_policy_cases,
    load_policy_cases_text,
    render_case_results,
    run_policy_tests,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_example_policy_cases_all_pass(example_policy):
    cases_path = default_cases_path(EXAMPLES / "policy.yaml")
    assert cases_path == EXAMPLES / "policy_tests.yaml"
    cases = load_policy_cases(cases_path)
    assert len(cases) >= 12
    results = run_policy_tests(example_policy, cases)
    failed = [r for r in results if not r.passed]
    assert not failed, render_case_results(results)
    assert render_case_results(results).endswith(f"{len(cases)} passed, 0 failed")


def test_run_policy_tests_reports_wrong_decision_and_rules(example_policy):
    cases = load_policy_cases_text(
        """
- name: wrongly expects auto
  input: {action: host.reboot, targets: [{env: prod}]}
  expect: {decision: auto, rules: [ticket-comment]}
- name: decision only
  input: {action: ticket.comment}
  expect: {decision: auto}
"""
    )
    results = run_policy_tests(example_policy, cases)
    assert [r.passed for r in results] == [False, True]
    msg = results[0].message
    assert "expected auto, got consent" in msg
    assert "did not match: ticket-comment" in msg
    assert "also matched: prod-reboot-or-patch" in msg
    text = render_case_results(results)
    assert "FAIL wrongly expects auto" in text
    assert "PASS decision only" in text
    assert text.endswith("1 passed, 1 failed")


def test_run_policy_tests_flags_unknown_rule_ids(example_policy):
    cases = load_policy_cases_text(
        "cases:\n  - name: n\n    input: {}\n    expect: {decision: consent, rules: [nope]}\n"
    )
    (result,) = run_policy_tests(example_policy, cases)
    assert not result.passed
    assert "does not have: nope" in result.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- name: a\n  input: {actoin: x}\n  expect: {decision: auto}\n", "actoin"),
        ("- name: a\n  input: {}\n  expect: {decision: sure}\n", "expect.decision"),
        ("- name: a\n  input: {}\n  expect: {decision: auto}\n  extra: 1\n", "unknown field"),
        ("- name: a\n  input: {}\n", "needs 'expect"),
    ],
)
def test_case_file_errors_name_the_case(text, fragment):
    with pytest.raises(PolicyError) as info:
        load_policy_cases_text(text, source="cases.yaml")
    assert fragment in str(info.value)
    assert "cases.yaml:" in str(info.value)


def _decide(policy, **data):
    return policy.decide(PolicyInput.from_partial(data))


def test_b9_more_targets_than_the_auto_envelope_falls_back_to_consent(example_policy):
    known = {"env": "dev", "coverage": "full"}
    small = _decide(example_policy, action="service.restart", targets=[known] * 3)
    assert small.outcome == "auto"
    big = _decide(example_policy, action="service.restart", targets=[known] * 11)
    assert big.outcome == "consent"
    assert "routine-restart-or-patch" not in big.matched
    assert big.quorum == 2  # A7: a broad selection gets the higher consent tier


def test_b9_prod_instead_of_dev_falls_back_to_consent(example_policy):
    dev = _decide(
        example_policy, action="patch.apply", targets=[{"env": "dev", "coverage": "full"}]
    )
    assert dev.outcome == "auto"
    prod = _decide(
        example_policy, action="patch.apply", targets=[{"env": "prod", "coverage": "full"}]
    )
    assert prod.outcome == "consent"
    assert "prod-reboot-or-patch" in prod.deciding


def test_b9_parameter_beyond_the_envelope_falls_back_to_consent(example_policy):
    short = _decide(example_policy, action="siem.rule.throttle", params={"minutes": 60})
    assert short.outcome == "auto"
    long = _decide(example_policy, action="siem.rule.throttle", params={"minutes": 61})
    assert long.outcome == "consent"
    assert long.default_applied


def test_example_policy_never_auto_with_deny_invariant(example_policy):
    d = _decide(
        example_policy,
        action="ticket.comment",
        invariants={"deny": 1, "failed": ["last_admin"]},
    )
    assert d.outcome == "deny"


@pytest.mark.parametrize("name", ["policy.yaml", "policy_autonomy.yaml"])
def test_every_example_policy_passes_its_own_cases(name: str) -> None:
    from agent.policy import load_policy

    policy_path = EXAMPLES / name
    cases = load_policy_cases(default_cases_path(policy_path))
    assert len(cases) >= 8
    results = run_policy_tests(load_policy(policy_path), cases)
    assert all(r.passed for r in results), render_case_results(results)
    # each rule of the policy is exercised by at least one case
    matched = {rule for r in results for rule in r.matched}
    assert {rule.id for rule in load_policy(policy_path).rules} <= matched


@pytest.mark.parametrize("policy_file", ["policy.yaml", "policy_autonomy.yaml"])
@pytest.mark.parametrize(
    ("target", "blast", "rule"),
    [
        ({"env": "prod", "coverage": "none"}, {}, "blast-radius-unknown"),
        ({"env": "prod", "coverage": "partial"}, {}, "blast-radius-unknown"),
        ({"env": "prod", "coverage": "full"}, {"unknown": 1}, "blast-radius-unknown"),
        ({"env": "unknown", "coverage": "full"}, {}, "environment-unknown"),
        ({"coverage": "full"}, {}, "environment-unknown"),  # env left out reads as unknown
    ],
)
def test_g1_unknown_coverage_or_environment_never_auto(policy_file, target, blast, rule):
    """G1: a routine restart the example policies would run by itself asks a person as soon as
    the target's dependents or environment are not known."""
    policy = load_policy(EXAMPLES / policy_file)
    base = {"kind": "service", "id": "service:contoso-erp-db"}
    known = _decide(
        policy, action="service.restart", targets=[{**base, "env": "prod", "coverage": "full"}]
    )
    assert known.outcome == "auto"  # the same change, fully known, is routine
    d = _decide(policy, action="service.restart", targets=[{**base, **target}], blast_radius=blast)
    assert d.outcome == "consent"
    assert rule in d.matched
