"""Invariants: checks phrased as "find counterexamples".

Each check returns rows of evidence naming entities; an empty list means the invariant holds.
Each row carries a severity (``deny``, ``needs_consent``, ``warn``). A check that raises is
reported as a ``deny`` (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from twin.fork import Fork, Outage
from twin.model import EdgeType, NodeKind

__all__ = [
    "INVARIANTS",
    "CheckContext",
    "InvariantResult",
    "Severity",
    "Violation",
    "run_invariants",
]

Severity = Literal["deny", "needs_consent", "warn"]
_RANK: dict[str, int] = {"deny": 0, "needs_consent": 1, "warn": 2}


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
    """What a check may look at."""

    fork: Fork
    outage: Outage
    action: str
    targets: tuple[str, ...]
    params: dict[str, Any]
    now: datetime
    settings: dict[str, Any] = field(default_factory=dict)


Check = Callable[[CheckContext], list[Violation]]


def _replicas(ctx: CheckContext) -> list[Violation]:
    """Every service keeps at least ``replicas_min`` running instances."""
    fork, out = ctx.fork, ctx.outage
    rows: list[Violation] = []
    for sid in sorted({*out.down, *out.degraded}):
        svc = fork.entity(sid)
        if svc.kind is not NodeKind.SERVICE:
            continue
        hosts = [d for t, d in fork.out_edges(sid) if t is EdgeType.RUNS_ON]
        if not hosts:
            continue
        live = [h for h in hosts if h not in out.down]
        need = int(svc.attrs.get("replicas_min", 1))
        if len(live) < need:
            lost = sorted(h for h in hosts if h in out.down)
            rows.append(
                Violation(
                    "replicas",
                    "needs_consent",
                    f"{svc.name} would run on {len(live)} of {len(hosts)} instances "
                    f"(needs at least {need})",
                    (sid, *lost),
                )
            )
    return rows


def _quorum(ctx: CheckContext) -> list[Violation]:
    """Every cluster keeps its quorum of live members."""
    fork, out = ctx.fork, ctx.outage
    clusters: set[str] = set()
    for nid in out.down:
        clusters.update(d for t, d in fork.out_edges(nid) if t is EdgeType.MEMBER_OF)
    rows: list[Violation] = []
    for cid in sorted(clusters):
        c = fork.entity(cid)
        if c.kind is not NodeKind.CLUSTER:
            continue
        members = [s for t, s in fork.in_edges(cid) if t is EdgeType.MEMBER_OF]
        live = [m for m in members if m not in out.down and fork.active(m)]
        quorum = int(c.attrs.get("quorum", len(members) // 2 + 1))
        if len(live) < quorum:
            rows.append(
                Violation(
                    "quorum",
                    "deny",
                    f"cluster {c.name} would have {len(live)} of {len(members)} members "
                    f"(quorum {quorum})",
                    (cid, *sorted(m for m in members if m in out.down)),
                )
            )
    return rows


INVARIANTS: dict[str, tuple[str, Check]] = {
    "replicas": ("replicas kept for every service", _replicas),
    "quorum": ("quorum kept for every cluster", _quorum),
}


def run_invariants(ctx: CheckContext, ids: tuple[str, ...]) -> list[InvariantResult]:
    """Run the named invariants; an unknown id or a raising check is a ``deny``."""
    results: list[InvariantResult] = []
    for inv_id in ids:
        entry = INVARIANTS.get(inv_id)
        if entry is None:
            results.append(InvariantResult(inv_id, "unknown invariant", error="unknown invariant"))
            continue
        desc, check = entry
        try:
            rows = check(ctx)
        except Exception as exc:  # fail closed: a broken check must never let a change through
            results.append(InvariantResult(inv_id, desc, error=f"{type(exc).__name__}: {exc}"))
            continue
        results.append(InvariantResult(inv_id, desc, tuple(rows)))
    return results
