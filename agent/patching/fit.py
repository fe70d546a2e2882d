"""Whether a host still fits its client's window, for :class:`~agent.patching.staged.StagedCycle`.

A host starts only if its job (the p95 of measured job times), the stage's soak and a rollback
all end before the window closes; a host that does not fit is deferred to the next opening,
and the report says why and until when.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from agent.patching.stages import ClientPlan
from twin.invariants.safety import next_opening

__all__ = ["MEASURED_AFTER", "deferral", "fits", "p95_seconds"]

MEASURED_AFTER = 20
"""Finished jobs before the measured p95 replaces the plans' assumption."""


def p95_seconds(durations: Sequence[float], assumed: float) -> float:
    """p95 of measured job times; ``assumed`` until :data:`MEASURED_AFTER` jobs finished."""
    if len(durations) < MEASURED_AFTER:
        return assumed
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def fits(plan: ClientPlan, stage: int, now: datetime, p95: float) -> bool:
    """Whether a job started ``now`` in ``stage`` (0-based) ends, soaks and could be rolled back
    before the window closes (always, when the client has no window)."""
    close = plan.closes_at
    if close is None:
        return True
    soak = plan.stages[min(stage, len(plan.stages) - 1)].soak_seconds
    need = p95 + soak + plan.settings.rollback_seconds
    return now + timedelta(seconds=need) <= close


def deferral(plan: ClientPlan, p95: float) -> str:
    """Why hosts that no longer fit wait, and for which opening."""
    close = plan.closes_at
    nxt = next_opening(plan.window, close) if close is not None and plan.window else None
    return (
        f"the window closes at {close:%a %H:%M %Z} and a host needs its p95 job time "
        f"({round(p95 / 60)} min) plus soak and rollback; deferred to "
        f"{nxt.isoformat() if nxt else 'the next opening'}"
    )
