"""The patch cycle's records: per-host results, progress events and the final report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["OUTCOMES", "CycleEvent", "CycleReport", "HostOutcome", "HostResult"]

HostOutcome = Literal[
    "patched",
    "failed",
    "escalated",
    "rolled_back",
    "awaiting_consent",
    "denied",
    "deferred_offline",
    "deferred_window",
    "held",
    "halted",
]
OUTCOMES: tuple[str, ...] = HostOutcome.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class HostResult:
    """How one host ended in the cycle."""

    host_id: str
    outcome: HostOutcome
    detail: str
    patch_ids: tuple[str, ...]
    changes: list[str] = field(default_factory=list)
    """The ``CR-N`` refs proposed for this host, in order."""


@dataclass(frozen=True)
class CycleEvent:
    """Progress for the CLI and the Slack thread: ``start``, ``wave``, ``wave_done``,
    ``quarantined``, ``halted``, ``done``."""

    kind: str
    data: dict[str, Any]


@dataclass
class CycleReport:
    """Every host the plan named, with its outcome; quarantined patches; why it halted."""

    cycle_id: str
    planned: int
    results: dict[str, HostResult] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    rollbacks: dict[str, list[str]] = field(default_factory=dict)
    """Quarantined patch -> hosts it was uninstalled from."""
    halted: str = ""
    consent_requests: int = 0
    invariant_violations: int = 0
    """Auto-approved plans whose rehearsal failed a deny invariant (must stay 0)."""

    def counts(self) -> dict[str, int]:
        """Hosts per outcome."""
        return dict(Counter(r.outcome for r in self.results.values()))

    def unaccounted(self, hosts: list[str]) -> list[str]:
        """Planned hosts with no result (empty when the report is complete)."""
        return [h for h in hosts if h not in self.results]

    def summary(self) -> str:
        """One paragraph for the digest and the Slack thread."""
        c = self.counts()
        parts = [f"{c[k]} {k.replace('_', ' ')}" for k in OUTCOMES if c.get(k)]
        text = f"Patch cycle {self.cycle_id}: {len(self.results)} of {self.planned} hosts: "
        text += ", ".join(parts) or "nothing to do"
        if self.quarantined:
            text += ". Quarantined: " + "; ".join(f"{k} ({v})" for k, v in self.quarantined.items())
        if self.halted:
            text += f". Halted: {self.halted}"
        return text + "."

    def audit_body(self) -> dict[str, Any]:
        """What the ``patch_cycle.finished`` audit row keeps: the summary and the counts."""
        return {
            "cycle_id": self.cycle_id,
            "summary": self.summary(),
            "planned": self.planned,
            "counts": self.counts(),
            "quarantined": sorted(self.quarantined),
            "halted": self.halted,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cycle_id": self.cycle_id,
            "planned": self.planned,
            "counts": self.counts(),
            "quarantined": self.quarantined,
            "rollbacks": self.rollbacks,
            "halted": self.halted,
            "consent_requests": self.consent_requests,
            "invariant_violations": self.invariant_violations,
            "hosts": {
                h: {
                    "outcome": r.outcome,
                    "detail": r.detail,
                    "patches": list(r.patch_ids),
                    "changes": r.changes,
                }
                for h, r in sorted(self.results.items())
            },
        }
