"""The one worker loop as :class:`~agent.service.Operations` runs it: before each round it
expires consents, releases scheduled changes and closes changes left undecided; after each change
it feeds the autonomy breaker, announces the result and replans a plan that drifted."""

from __future__ import annotations

import threading

from agent.execution import Change, ExecutionReport, Worker, close_undecided
from agent.service.consenting import Consenting
from agent.service.proposing import Proposing
from agent.service.records import ChangeEvent

__all__ = ["Running"]


class Running(Proposing, Consenting):
    """``worker``, ``drain`` and the background thread (``start_worker``, ``stop_worker``)."""

    def worker(self, *, batch: int = 10, idle_sleep: float = 1.0) -> Worker:
        """The one worker loop: production's thread, :meth:`drain` and the crash tests run it.

        Before each round it expires consents and closes changes left undecided; after each
        change it feeds the autonomy breaker, announces the result and replans a stale plan.
        """
        return Worker(
            self.executor,
            batch=batch,
            idle_sleep=idle_sleep,
            before_round=self._housekeeping,
            on_report=self._after_run,
            on_start=self._started,
            wake=self._wake,
        )

    def _started(self, change_id: int) -> None:
        """A worker claimed the change and is about to run it: subscribers hear ``started``."""
        self._emit(ChangeEvent("started", self.journal.get(change_id)))

    def _housekeeping(self) -> None:
        self.expire_consents()
        self.release_due()
        for closed in close_undecided(self.journal, self.now()):
            self._emit(ChangeEvent("decided", closed, {"outcome": "deny"}))

    def _after_run(self, report: ExecutionReport) -> None:
        change = self.journal.get(report.change_id)
        refusal = (change.result or {}).get("refusal") or {}
        drifted = refusal.get("check") == "drift" and refusal.get("before_any_call")
        if change.state in ("rolled_back", "escalated", "failed") and not drifted:
            self._failed(change)
        self._emit(ChangeEvent("finished", change, {"report": report}))
        if drifted:
            self.replan(change)

    def drain(self, limit: int = 10) -> list[ExecutionReport]:
        """Run everything claimable now through the worker loop (the CLI, the patch cycle,
        tests), ``limit`` claims per round."""
        return self.worker(batch=limit).drain().reports or []

    def _failed(self, change: Change) -> None:
        if self.guards.note_failure(change):
            self._emit(ChangeEvent("autonomy", change, {"breaker": "open"}))

    def start_worker(self, interval: float = 1.0) -> None:
        """Run the worker loop (:meth:`worker`) in a background thread until :meth:`stop_worker`."""
        if self._worker is not None:
            return
        loop = self.worker(idle_sleep=interval)
        self._loop = loop
        self._worker = threading.Thread(target=loop.run, name="opshand-executor", daemon=True)
        self._worker.start()

    def stop_worker(self) -> None:
        """Stop the background worker (after the change it is running)."""
        if self._loop is not None:
            self._loop.stop()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        self._loop = None
