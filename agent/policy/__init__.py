"""Operator-written policy: YAML rules with CEL conditions deciding auto, consent or deny.

Load once with ``load_policy(path)``, then ``policy.decide(PolicyInput(...))`` per proposed
change. ``explain`` shows each rule's verdict; ``run_policy_tests`` checks the cases an operator
keeps beside the policy. See ``examples/policy.yaml`` for a commented policy.
"""

from __future__ import annotations

from agent.policy.cases import (
    CaseResult,
    PolicyCase,
    default_cases_path,
    load_policy_cases,
    load_policy_cases_text,
    render_case_results,
    run_policy_tests,
)
from agent.policy.engine import Policy
from agent.policy.input import (
    BlastRadiusSummary,
    HistorySummary,
    InvariantSummary,
    PolicyInput,
    PolicyTarget,
    Requester,
    TimeContext,
    target_of,
)
from agent.policy.loader import load_policy, load_policy_text
from agent.policy.model import (
    Decision,
    Explanation,
    Outcome,
    PolicyDefaults,
    PolicyError,
    Rule,
    RuleTrace,
    parse_duration,
)

__all__ = [
    "BlastRadiusSummary",
    "CaseResult",
    "Decision",
    "Explanation",
    "HistorySummary",
    "InvariantSummary",
    "Outcome",
    "Policy",
    "PolicyCase",
    "PolicyDefaults",
    "PolicyError",
    "PolicyInput",
    "PolicyTarget",
    "Requester",
    "Rule",
    "RuleTrace",
    "TimeContext",
    "default_cases_path",
    "explain",
    "load_policy",
    "load_policy_cases",
    "load_policy_cases_text",
    "load_policy_text",
    "parse_duration",
    "render_case_results",
    "run_policy_tests",
    "target_of",
]


def explain(policy: Policy, policy_input: PolicyInput) -> Explanation:
    """The input, each rule's verdict (matched, not matched, or error) and the decision."""
    return policy.explain(policy_input)
