"""How a run ends before its plan is done: refused, handed back, stopped, targets skipped.

* refused: a check failed before any call went out; the change fails and escalates, nothing ran;
* handed back: the integration is held (open circuit, auth failure); the change is queued again
  with its work kept, and every check runs again when it is claimed next;
* stopped: a check failed after calls went out (B10); later targets are skipped, a call that
  may have left before a restart is marked unknown (never sent again), and the reconciler reads
  back what ran.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from agent.execution.change import Change
from agent.execution.checks import Refusal
from agent.execution.journal import Journal
from agent.execution.report import ExecutionReport, TargetResult
from agent.execution.targets import TargetBook
from twin.actions import ActionSpec
from twin.plan import Plan

__all__ = ["Endings"]


class Endings:
    """Ends runs early for one worker (its journal moves and target rows carry its lease)."""

    def __init__(self, engine: Engine, journal: Journal, targets: TargetBook, actor: str) -> None:
        self.engine = engine
        self.journal = journal
        self.targets = targets
        self.actor = actor

    def skip_rest(
        self,
        change_id: int,
        plan: Plan,
        token: str,
        report: ExecutionReport,
        from_wave: int,
        detail: str,
        *,
        short: str = "halted",
    ) -> None:
        """Mark every target still pending from wave ``from_wave`` on as skipped."""
        rows = self.targets.rows(change_id)
        for later in plan.waves[from_wave:]:
            for tid in later:
                if rows[tid].state != "pending":
                    continue
                self.targets.set(change_id, tid, token, state="skipped", detail=detail)
                report.targets.append(TargetResult(tid, -1, "skipped", short))

    def unknown(
        self, change: Change, spec: ActionSpec, tid: str, row: Any, token: str, detail: str
    ) -> TargetResult:
        """A call that may have left before a restart, never sent again: read it back."""
        self.targets.set(
            change.id,
            tid,
            token,
            state="unknown",
            detail=detail,
            call={
                "idempotency_key": row.idempotency_key,
                "capability": spec.capability,
                "outcome": "unknown",
                "detail": detail,
                "plan_hash": change.plan_hash,
            },
        )
        return TargetResult(tid, row.wave, "unknown", detail)

    def refuse(self, change: Change, token: str, problem: Refusal) -> ExecutionReport:
        """A check failed before any call: nothing ran; the change fails and escalates."""
        reason = problem.reason
        for tid in self.targets.rows(change.id):
            self.targets.set(change.id, tid, token, state="skipped", detail="refused")
        with self.engine.begin() as conn:
            self.journal.move(
                change.id,
                "failed",
                actor=self.actor,
                conn=conn,
                lease_token=token,
                body={"reason": reason, "executed": 0, "check": problem.check},
                result={
                    "message": reason,
                    "stale": True,
                    "refusal": {**problem.as_dict(), "before_any_call": True},
                },
            )
            self.journal.move(
                change.id,
                "escalated",
                actor=self.actor,
                conn=conn,
                body={"reason": f"refused before execution: {reason}"},
            )
        return ExecutionReport(change.id, "escalated", message=reason, refusal=problem)

    def release(self, change: Change, token: str, why: str) -> ExecutionReport:
        """Hand the change back to the queue: its work is kept, not failed, and checked again."""
        self.journal.move(
            change.id,
            "queued",
            actor=self.actor,
            expect=["executing"],
            lease_token=token,
            body={"deferred": why},
            lease_until=None,
        )
        return ExecutionReport(change.id, "queued", message=f"deferred: {why}")
