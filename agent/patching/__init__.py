"""Patch cycles: rings, windows and stages planned, run on a clock and reported."""

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
from agent.patching.staged import CycleClock, RequestBudget, StagedCycle, StagedSettings
from agent.patching.stages import (
    ClientPlan,
    StagedHost,
    StagePlan,
    StageSettings,
    plan_stages,
    window_close,
    window_opening,
)

__all__ = [
    "FINISHED_KIND",
    "OUTCOMES",
    "ClientPlan",
    "CycleClock",
    "CycleEvent",
    "CyclePlan",
    "CycleReport",
    "HostOutcome",
    "HostPlan",
    "HostResult",
    "PatchCycle",
    "PatchCycleSettings",
    "RequestBudget",
    "StagePlan",
    "StageSettings",
    "StagedCycle",
    "StagedHost",
    "StagedSettings",
    "Wave",
    "plan_cycle",
    "plan_stages",
    "window_close",
    "window_opening",
]
