"""Evaluating a loaded policy: every rule over one input, combined into a ``Decision``.

Rules are compiled once at load; a decision converts the input to CEL values once (a shared
``cel.Context``) and runs each program against it, which is what keeps a decision well under a
millisecond. Evaluation is pure: the same input gives the same decision at any hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cel

from agent.policy.input import PolicyInput
from agent.policy.model import Decision, Explanation, PolicyDefaults, Rule, RuleTrace

__all__ = ["Policy"]


@dataclass(frozen=True, slots=True)
class _Verdict:
    rule: Rule
    matched: bool
    error: str | None


def _run(rule: Rule, context: Any) -> _Verdict:
    try:
        result = rule.program.execute(context)
    except Exception as exc:  # any failure of a condition fails closed (deny)
        return _Verdict(rule, True, _error_text(exc))
    if not isinstance(result, bool):
        return _Verdict(rule, True, f"condition gave {type(result).__name__}, not a boolean")
    return _Verdict(rule, result, None)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such field or key {exc}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded, compiled policy. Build it with ``load_policy`` / ``load_policy_text``.

    Attributes:
        source: Where it was loaded from (file path or ``<string>``).
        version: The file's ``version``.
        defaults: What applies when no rule matches.
        rules: Compiled rules in file order.
        hash: sha256 of the canonical content; part of every decision.
        target_fields: Which target fields the rules read (``None`` = unknown, send all).
    """

    source: str
    version: int
    defaults: PolicyDefaults
    rules: tuple[Rule, ...]
    hash: str
    target_fields: frozenset[str] | None = None
    """Target fields the rules read (``None``: all). Only these reach CEL, for speed."""

    def decide(self, policy_input: PolicyInput) -> Decision:
        """Evaluate every rule on ``policy_input`` and combine the results."""
        return self._combine(self._evaluate(policy_input))

    def explain(self, policy_input: PolicyInput) -> Explanation:
        """Like ``decide`` but also report, per rule, matched / not matched / error."""
        verdicts = self._evaluate(policy_input)
        traces = tuple(
            RuleTrace(
                id=v.rule.id,
                decision=v.rule.decision,
                matched=v.matched,
                error=v.error,
                reason=v.rule.reason,
            )
            for v in verdicts
        )
        return Explanation(input=policy_input, rules=traces, decision=self._combine(verdicts))

    def _evaluate(self, policy_input: PolicyInput) -> list[_Verdict]:
        # One conversion per decision: the context caches the CEL-side values across programs.
        # Converting targets dominates on large selections, so only fields rules read go in.
        keep = self.target_fields
        if keep is None:
            data = policy_input.to_cel()
        else:
            data = policy_input.model_dump(mode="json", exclude={"targets"})
            data["targets"] = [{k: getattr(t, k) for k in keep} for t in policy_input.targets]
        context = cel.Context(variables={"input": data})
        return [_run(rule, context) for rule in self.rules]

    def _combine(self, verdicts: Sequence[_Verdict]) -> Decision:
        matched = [v for v in verdicts if v.matched]
        reasons = {
            v.rule.id: (
                f"policy error in rule {v.rule.id}: {v.error}"
                if v.error is not None
                else v.rule.reason
            )
            for v in matched
        }
        ids = tuple(v.rule.id for v in matched)
        # A rule that raised counts as a deny, whatever its declared decision (fail closed).
        denies = [v for v in matched if v.error is not None or v.rule.decision == "deny"]
        if denies:
            return Decision(
                outcome="deny",
                matched=ids,
                deciding=tuple(v.rule.id for v in denies),
                reasons=reasons,
                policy_hash=self.hash,
            )
        consents = [v.rule for v in matched if v.rule.decision == "consent"]
        if consents:
            # Strictest wins: highest quorum (its approver group, first in file order on a tie),
            # shortest expiry over all matching consent rules.
            strictest = max(consents, key=lambda r: r.quorum or 0)
            expiries = [r.expires_in for r in consents if r.expires_in is not None]
            return Decision(
                outcome="consent",
                matched=ids,
                deciding=tuple(r.id for r in consents),
                reasons=reasons,
                approvers=strictest.approvers,
                quorum=strictest.quorum or self.defaults.quorum,
                expires_in=min(expiries) if expiries else self.defaults.expires_in,
                policy_hash=self.hash,
            )
        autos = [v.rule.id for v in matched if v.rule.decision == "auto"]
        if autos:
            return Decision(
                outcome="auto",
                matched=ids,
                deciding=tuple(autos),
                reasons=reasons,
                policy_hash=self.hash,
            )
        return self._default(ids, reasons)

    def _default(self, ids: tuple[str, ...], reasons: dict[str, str]) -> Decision:
        d = self.defaults
        reasons = {**reasons, "default": f"no rule decided; the policy default is {d.decision}"}
        consent = d.decision == "consent"
        return Decision(
            outcome=d.decision,
            matched=ids,
            deciding=(),
            reasons=reasons,
            approvers=d.approvers if consent else None,
            quorum=d.quorum if consent else 0,
            expires_in=d.expires_in if consent else None,
            default_applied=True,
            policy_hash=self.hash,
        )
