"""The invariant machinery: counterexample rows, results, the check context and the runner.

Each check returns rows of evidence naming entities; an empty list means the invariant holds.
Each row carries a severity (``deny``, ``needs_consent``, ``warn``). A check that raises, or that
overruns its time budget, is reported as a ``deny`` (fail closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from twin.fork import Fork, Outage

__all__ = [
    "DEFAULT_SETTINGS",
    "Check",
    "CheckContext",
    "InvariantResult",
    "Severity",
    "Violation",
    "run_checks",
]

Severity = Literal["deny", "needs_consent", "warn"]
_RANK: dict[str, int] = {"deny": 0, "needs_consent": 1, "warn": 2}

DEFAULT_SETTINGS: dict[str, Any] = {
    # Observed facts older than this in the blast radius need a person's consent. Facts from
    # declared sources are records, not observations, and do not go stale: the CMDB, and the
    # generated sample estate (a fixture whose clock is not the estate's).
    "max_fact_age_hours": 24,
    "declared_sources": ("cmdb", "sample"),
    "restore_test_max_days": 30,
    "min_overlap_minutes": 15,
    "critical_roles": ("dns", "idp"),
    "check_timeout_ms": 500,
    "freezes": (),
    "window_always": ("firewall.rule.add", "firewall.rule.remove", "credential.rotate"),
    "max_listed": 20,
}
"""Invariant settings; pass overrides to ``rehearse(settings=...)``."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One counterexample."""

    invariant: str
    severity: Severity
    message: str
    entities: tuple[str, ...]


@dataclass(frozen=True)
class InvariantResult:
    """The outcome of one invariant: its counterexamples, or the error that stopped it."""

    id: str
    description: str
    violations: tuple[Violation, ...] = ()
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when no counterexample was found and the check ran."""
        return not self.violations and self.error is None

    @property
    def severity(self) -> Severity | None:
        """The worst severity among the violations (``deny`` on error)."""
        if self.error is not None:
            return "deny"
        if not self.violations:
            return None
        return min((v.severity for v in self.violations), key=_RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "description": self.description,
            "passed": self.passed,
            "severity": self.severity,
            "error": self.error,
            "violations": [
                {"severity": v.severity, "message": v.message, "entities": list(v.entities)}
                for v in self.violations
            ],
        }


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at: the fork, its outage, the change and the settings."""

    fork: Fork
    outage: Outage
    action: str
    targets: tuple[str, ...]
    params: dict[str, Any]
    now: datetime
    settings: Mapping[str, Any] = field(default_factory=dict)

    def setting(self, key: str) -> Any:
        """A setting, falling back to :data:`DEFAULT_SETTINGS`."""
        if key in self.settings:
            return self.settings[key]
        return DEFAULT_SETTINGS[key]

    def listed(self, ids: list[str]) -> tuple[str, ...]:
        """At most ``max_listed`` ids, so evidence for thousands of targets stays readable."""
        return tuple(ids[: int(self.setting("max_listed"))])


Check = Callable[[CheckContext], list[Violation]]


def run_checks(
    ctx: CheckContext, ids: tuple[str, ...], registry: Mapping[str, tuple[str, Check]]
) -> list[InvariantResult]:
    """Run the named checks; an unknown id, a raising check or an overrun is a ``deny``."""
    budget = float(ctx.setting("check_timeout_ms")) / 1000.0
    results: list[InvariantResult] = []
    for inv_id in ids:
        entry = registry.get(inv_id)
        if entry is None:
            results.append(InvariantResult(inv_id, "unknown invariant", error="unknown invariant"))
            continue
        desc, check = entry
        started = time.perf_counter()
        try:
            rows = check(ctx)
        except Exception as exc:  # fail closed: a broken check must never let a change through
            results.append(InvariantResult(inv_id, desc, error=f"{type(exc).__name__}: {exc}"))
            continue
        took = time.perf_counter() - started
        if took > budget:
            # Checks are not pre-empted (no threads on the hot path); a check that overran its
            # budget is treated as unreliable and its verdict discarded.
            results.append(
                InvariantResult(
                    inv_id,
                    desc,
                    error=f"timed out: took {took * 1000:.0f} ms (budget {budget * 1000:.0f} ms)",
                )
            )
            continue
        results.append(InvariantResult(inv_id, desc, tuple(rows)))
    return results
