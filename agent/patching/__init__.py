"""Patch cycles: rings, windows and waves planned, run and reported."""

from __future__ import annotations

from agent.patching.cycle import (
    FINISHED_KIND,
    CyclePlan,
    HostPlan,
    PatchCycle,
    PatchCycleSettings,
    Wave,
    plan_cycle,
)
from agent.patching.report import (
    OUTCOMES,
    CycleEvent,
    CycleReport,
    HostOutcome,
    HostResult,
)

__all__ = [
    "FINISHED_KIND",
    "OUTCOMES",
    "CycleEvent",
    "CyclePlan",
    "CycleReport",
    "HostOutcome",
    "HostPlan",
    "HostResult",
    "PatchCycle",
    "PatchCycleSettings",
    "Wave",
    "plan_cycle",
]
