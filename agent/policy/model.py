"""Records of the policy engine: rules, defaults, decisions, explanations and the load error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.policy.input import PolicyInput

__all__ = [
    "Decision",
    "Explanation",
    "Outcome",
    "PolicyDefaults",
    "PolicyError",
    "Rule",
    "RuleTrace",
    "parse_duration",
]

Outcome = Literal["auto", "consent", "deny"]
OUTCOMES: tuple[Outcome, ...] = ("auto", "consent", "deny")


class PolicyError(Exception):
    """A policy file that cannot be used: it does not parse, a rule is malformed or a CEL
    condition does not compile or reads a field the input does not have.

    The message reads ``<file>:<line>:<col>: rule '<id>': <cause>`` so an editor can jump there.

    Attributes:
        source: The file name (or ``<string>``).
        rule_id: The offending rule's id, or ``None`` for file-level problems.
        line: 1-based line in the file.
        col: 1-based column in the file.
        cause: What is wrong, as a sentence fragment.
    """

    def __init__(
        self, source: str, cause: str, *, line: int, col: int, rule_id: str | None = None
    ) -> None:
        self.source = source
        self.rule_id = rule_id
        self.line = line
        self.col = col
        self.cause = cause
        where = f"rule '{rule_id}': " if rule_id is not None else ""
        super().__init__(f"{source}:{line}:{col}: {where}{cause}")


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """Parse ``1h``, ``30m``, ``1h30m``, ``2d``, ``45s`` into a positive ``timedelta``.

    Raises:
        ValueError: the text is not such a duration or is zero.
    """
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"'{text}' is not a duration like '1h', '30m' or '1h30m'")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value <= timedelta(0):
        raise ValueError(f"duration '{text}' must be longer than zero")
    return value


class PolicyDefaults(BaseModel):
    """What applies when no rule matches, and what consent rules inherit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Outcome = "consent"
    """Outcome when no rule matches."""
    approvers: str = "approvers"
    """Role whose members may approve."""
    quorum: int = Field(default=1, ge=1)
    """Distinct approvals needed."""
    expires_in: timedelta = timedelta(hours=1)
    """How long a consent request stays open."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``approvers``/``quorum``/``expires_in`` are resolved against the
    defaults for consent rules and ``None`` for the others."""

    id: str
    when: str
    decision: Outcome
    reason: str
    approvers: str | None
    quorum: int | None
    expires_in: timedelta | None
    line: int
    """1-based line of the rule in the policy file."""
    program: Any = field(repr=False, compare=False)
    """The compiled CEL program (``cel.Program``)."""


class Decision(BaseModel):
    """What policy says about one proposed change.

    Combination: any ``deny`` wins; else any ``consent`` (quorum = the highest among matching
    consent rules, approvers = that rule's group, the first such rule in file order on a tie,
    expiry = the shortest); else an explicit ``auto``; else the policy default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Outcome
    matched: tuple[str, ...]
    """Ids of every rule whose condition held (or raised), in file order."""
    deciding: tuple[str, ...]
    """The matched rules whose decision equals the outcome (empty when the default applied)."""
    reasons: dict[str, str]
    """Rule id -> human reason, for every matched rule (``default`` when the default applied)."""
    approvers: str | None = None
    """Approver role for consent; ``None`` otherwise."""
    quorum: int = 0
    """Distinct approvals needed for consent; 0 otherwise."""
    expires_in: timedelta | None = None
    """How long the consent request stays open; ``None`` unless consent."""
    default_applied: bool = False
    """True when no rule decided and the policy default was used."""
    policy_hash: str
    """sha256 of the policy's canonical content (comments and layout do not count)."""

    def summary(self) -> str:
        """One line for logs and cards, e.g. ``consent (2 of approvers): prod-reboot``."""
        head: str = self.outcome
        if self.outcome == "consent":
            head = f"consent ({self.quorum} of {self.approvers})"
        rules = ", ".join(self.deciding) if self.deciding else "default"
        return f"{head}: {rules}"


class RuleTrace(BaseModel):
    """How one rule fared on one input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    decision: Outcome
    matched: bool
    error: str | None = None
    reason: str


class Explanation(BaseModel):
    """The input, every rule's verdict on it, and the resulting decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: PolicyInput
    rules: tuple[RuleTrace, ...]
    decision: Decision

    def render(self) -> str:
        """Plain-text lines: one per rule, then the decision."""
        lines = []
        for trace in self.rules:
            if trace.error is not None:
                mark = f"ERROR {trace.error}"
            else:
                mark = "match" if trace.matched else "-"
            lines.append(f"  [{trace.decision:7}] {trace.id}: {mark}")
        lines.append(f"decision: {self.decision.summary()}")
        return "\n".join(lines)
