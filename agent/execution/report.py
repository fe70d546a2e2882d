"""What one run of a change did: per target, what was observed, why it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.execution.checks import Refusal
from agent.execution.observe import Observation

__all__ = ["ExecutionReport", "TargetResult"]


@dataclass(frozen=True)
class TargetResult:
    """How one target ended."""

    target: str
    wave: int
    state: str
    detail: str


@dataclass
class ExecutionReport:
    """What one run of a change did, per target."""

    change_id: int
    final_state: str
    targets: list[TargetResult] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    halted_at_wave: int | None = None
    message: str = ""
    delays: list[dict[str, Any]] = field(default_factory=list)
    """Rate-limit waits (integration, seconds) the requester should be told about."""
    refusal: Refusal | None = None
    """The check that stopped the change, when one did (:mod:`agent.execution.checks`)."""
