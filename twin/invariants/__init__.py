"""Invariants: checks phrased as "find counterexamples", each traced to a real kind of outage.

Each check returns rows of evidence naming entities; an empty list means the invariant holds.
Rows carry a severity (``deny``, ``needs_consent``, ``warn``). A check that raises or overruns
its time budget is reported as a ``deny`` (fail closed).
"""

from __future__ import annotations

from twin.invariants._core import (
    DEFAULT_SETTINGS,
    Check,
    CheckContext,
    InvariantResult,
    Severity,
    Violation,
    run_checks,
)
from twin.invariants.access import credential_consumers, firewall_flows, last_admin
from twin.invariants.capacity import critical_path, mgmt_path, quorum, replicas
from twin.invariants.safety import backup_ready, change_window, freshness

__all__ = [
    "DEFAULT_SETTINGS",
    "INVARIANTS",
    "Check",
    "CheckContext",
    "InvariantResult",
    "Severity",
    "Violation",
    "run_invariants",
]

INVARIANTS: dict[str, tuple[str, Check]] = {
    "replicas": ("replicas kept for every service", replicas),
    "quorum": ("quorum kept for every cluster", quorum),
    "critical_path": ("no critical service loses its last dependency path", critical_path),
    "credential_consumers": (
        "no credential consumer left without a valid secret",
        credential_consumers,
    ),
    "last_admin": ("never disable the last admin or a break-glass identity", last_admin),
    "firewall_flows": (
        "firewall opens only intended flows; DNS, IdP and management stay reachable",
        firewall_flows,
    ),
    "backup_ready": (
        "a recent, tested backup exists and the restore matches the intended role",
        backup_ready,
    ),
    "mgmt_path": ("the management and rollback path does not run through the change", mgmt_path),
    "change_window": ("inside the maintenance window and outside any change freeze", change_window),
    "freshness": ("facts in the blast radius observed recently enough", freshness),
}
"""Every invariant by id: (description, check)."""


def run_invariants(ctx: CheckContext, ids: tuple[str, ...]) -> list[InvariantResult]:
    """Run the named invariants; an unknown id, a raising check or an overrun is a ``deny``."""
    return run_checks(ctx, ids, INVARIANTS)
