"""Patch cycles: rings, windows and stages planned, run on a clock and reported."""

from __future__ import annotations

from agent.patching.cycle import FINISHED_KIND, PatchCycle
from agent.patching.cycle_calls import CALL_KIND, CycleCalls
from agent.patching.cycle_plan import CyclePlan, HostPlan, PatchCycleSettings, Wave, plan_cycle
from agent.patching.decide import HostDecisions, decide_hosts
from agent.patching.flight import CycleClock, RequestBudget, StagedSettings
from agent.patching.report import (
    OUTCOMES,
    CycleEvent,
    CycleReport,
    HostOutcome,
    HostResult,
)
from agent.patching.staged import JOB_KIND, STAGE_KIND, StagedCycle
from agent.patching.stages import (
    ClientPlan,
    StagedHost,
    StagePlan,
    StageSettings,
    plan_drift,
    plan_stages,
    window_close,
    window_opening,
)

__all__ = [
    "CALL_KIND",
    "FINISHED_KIND",
    "JOB_KIND",
    "OUTCOMES",
    "STAGE_KIND",
    "ClientPlan",
    "CycleCalls",
    "CycleClock",
    "CycleEvent",
    "CyclePlan",
    "CycleReport",
    "HostDecisions",
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
    "decide_hosts",
    "plan_cycle",
    "plan_drift",
    "plan_stages",
    "window_close",
    "window_opening",
]
