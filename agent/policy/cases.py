"""Policy tests kept beside the policy: cases of input and expected decision.

A cases file is YAML, either a list of cases or ``{cases: [...]}``. Each case::

    - name: reboot of a prod host asks for consent
      input: {action: host.reboot, targets: [{env: prod}]}   # partial, filled from defaults
      expect: {decision: consent, rules: [prod-reboot-consent]}

``expect.rules`` is the exact set of rules that should match (order does not matter); leave it
out to check only the decision. Operators run these before a policy goes live.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.policy.engine import Policy
from agent.policy.input import PolicyInput
from agent.policy.model import OUTCOMES, Outcome, PolicyError
from agent.policy.yamlpos import Located, compose_located

__all__ = [
    "CaseResult",
    "PolicyCase",
    "default_cases_path",
    "load_policy_cases",
    "load_policy_cases_text",
    "render_case_results",
    "run_policy_tests",
]

_CASE_FIELDS = frozenset({"name", "input", "expect"})
_EXPECT_FIELDS = frozenset({"decision", "rules"})


class PolicyCase(BaseModel):
    """One policy test case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    input: PolicyInput
    expect_decision: Outcome
    expect_rules: tuple[str, ...] | None = None
    """Exact set of rules expected to match; ``None`` means not checked."""
    line: int = 0
    """1-based line of the case in its file (0 when built in code)."""


class CaseResult(BaseModel):
    """How one case fared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    passed: bool
    decision: Outcome
    matched: tuple[str, ...]
    message: str
    """Empty when passed; otherwise what differed."""


def default_cases_path(policy_path: str | Path) -> Path:
    """Where a policy's cases live by convention: ``policy.yaml`` -> ``policy_tests.yaml``."""
    p = Path(policy_path)
    return p.with_name(f"{p.stem}_tests{p.suffix or '.yaml'}")


def load_policy_cases(path: str | Path) -> list[PolicyCase]:
    """Load a cases file.

    Raises:
        PolicyError: the file cannot be read, does not parse, or a case is malformed.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(p), f"cannot read the file: {exc.strerror}", line=1, col=1) from exc
    return load_policy_cases_text(text, source=str(p))


def load_policy_cases_text(text: str, *, source: str = "<string>") -> list[PolicyCase]:
    """Load cases from YAML text; ``source`` names it in errors."""
    root = compose_located(text, source)
    items = root.value
    if isinstance(items, dict) and set(items) == {"cases"}:
        items = items["cases"].value
    if not isinstance(items, list):
        raise PolicyError(source, "expected a list of cases (or 'cases: [...]')", **root.at())
    return [_case(node, source) for node in items]


def _case(node: Located, source: str) -> PolicyCase:
    if not isinstance(node.value, dict):
        raise PolicyError(
            source, "each case must be a mapping with name, input, expect", **node.at()
        )
    fields = node.value
    name = str(fields["name"].value) if "name" in fields else f"case on line {node.line}"
    for key, child in fields.items():
        if key not in _CASE_FIELDS:
            raise PolicyError(source, f"case '{name}': unknown field '{key}'", **child.key_at())
    expect = fields.get("expect")
    if expect is None or not isinstance(expect.value, dict):
        raise PolicyError(source, f"case '{name}': needs 'expect: {{decision: ...}}'", **node.at())
    for key, child in expect.value.items():
        if key not in _EXPECT_FIELDS:
            raise PolicyError(
                source, f"case '{name}': unknown field 'expect.{key}'", **child.key_at()
            )
    decision_node = expect.value.get("decision")
    if decision_node is None or decision_node.value not in OUTCOMES:
        where = decision_node or expect
        raise PolicyError(
            source,
            f"case '{name}': expect.decision must be one of {', '.join(OUTCOMES)}",
            **where.at(),
        )
    rules: tuple[str, ...] | None = None
    if "rules" in expect.value:
        raw = expect.value["rules"].plain()
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            raise PolicyError(
                source,
                f"case '{name}': expect.rules must be a list of rule ids",
                **expect.value["rules"].at(),
            )
        rules = tuple(raw)
    input_node = fields.get("input")
    raw_input: Any = input_node.plain() if input_node is not None else {}
    if raw_input is None:
        raw_input = {}
    where = input_node or node
    if not isinstance(raw_input, dict):
        raise PolicyError(source, f"case '{name}': input must be a mapping", **where.at())
    try:
        policy_input = PolicyInput.from_partial(raw_input)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyError(source, f"case '{name}': bad input: {problems}", **where.at()) from exc
    return PolicyCase(
        name=name,
        input=policy_input,
        expect_decision=decision_node.value,
        expect_rules=rules,
        line=node.line,
    )


def run_policy_tests(policy: Policy, cases: Sequence[PolicyCase]) -> list[CaseResult]:
    """Decide every case with ``policy`` and compare with what it expects."""
    known = {rule.id for rule in policy.rules}
    results: list[CaseResult] = []
    for case in cases:
        decision = policy.decide(case.input)
        problems: list[str] = []
        if decision.outcome != case.expect_decision:
            problems.append(f"expected {case.expect_decision}, got {decision.outcome}")
        if case.expect_rules is not None:
            unknown = sorted(set(case.expect_rules) - known)
            if unknown:
                problems.append(f"expects rules the policy does not have: {', '.join(unknown)}")
            missing = [r for r in case.expect_rules if r not in decision.matched]
            extra = [r for r in decision.matched if r not in case.expect_rules]
            if missing:
                problems.append(f"did not match: {', '.join(missing)}")
            if extra:
                problems.append(f"also matched: {', '.join(extra)}")
        errors = [r for r in decision.reasons.values() if r.startswith("policy error")]
        problems.extend(errors)
        results.append(
            CaseResult(
                name=case.name,
                passed=not problems,
                decision=decision.outcome,
                matched=decision.matched,
                message="; ".join(problems),
            )
        )
    return results


def render_case_results(results: Sequence[CaseResult]) -> str:
    """``PASS``/``FAIL`` lines, one per case, and a closing count."""
    lines = []
    for result in results:
        if result.passed:
            lines.append(f"PASS {result.name}")
        else:
            lines.append(f"FAIL {result.name}: {result.message}")
    failed = sum(1 for r in results if not r.passed)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
