"""The one worker loop around the :class:`~agent.execution.executor.Executor`.

Production (``Operations.start_worker``, a thread of ``opshand serve``), ``Operations.drain`` (the
CLI, the patch cycle, tests) and the crash and race tests (D1/D2, which SIGKILL worker
processes) all run this loop, built by ``Operations.worker`` with the host's housekeeping
(consent expiry, closing undecided changes) before each round and its follow-up (the autonomy
breaker, announcements, replanning a stale plan) after each change.

Several workers (processes or replicas) may run against one PostgreSQL database: each claims
queued changes with ``FOR UPDATE SKIP LOCKED`` and a lease token, one at a time, so every change
runs once; a worker that dies leaves its claim to expire and another takes it over. On SQLite
run one worker per database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from agent.execution.change import IllegalTransition, LeaseLost
from agent.execution.executor import Executor
from agent.execution.journal import journal_table
from agent.execution.report import ExecutionReport

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What a worker did in one :meth:`Worker.run` or :meth:`Worker.drain`."""

    runs: int = 0
    """Changes it ran (to a final state or handed back)."""
    lost_leases: int = 0
    """Changes it stopped because another worker took its claim over."""
    errors: int = 0
    """Unexpected errors (logged; the change's lease then expires and is taken over)."""
    reports: list[ExecutionReport] | None = None
    """The report of every change it ran, in order (kept by :meth:`Worker.drain` only: a
    long-running loop keeps none)."""


class Worker:
    """Claims and runs what it can, one change at a time, until told to stop.

    Args:
        executor: The executor that claims and runs changes.
        batch: Changes claimed (one after the other) per round.
        idle_sleep: Seconds to wait for :attr:`wake` when nothing could be claimed.
        before_round: Housekeeping before each round (expire consents, close undecided ...).
        on_report: Called with every execution report (breaker, announcements, replanning).
        on_start: Called with a change's id once claimed, before it runs (announcements).
        wake: Set to end an idle wait early (something was queued); a new event when omitted.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        batch: int = 1,
        idle_sleep: float = 0.2,
        before_round: Callable[[], None] | None = None,
        on_report: Callable[[ExecutionReport], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        self.executor = executor
        self.batch = max(1, batch)
        self.idle_sleep = idle_sleep
        self.before_round = before_round
        self.on_report = on_report
        self.on_start = on_start
        self.wake = wake if wake is not None else threading.Event()
        self.stop_event = threading.Event()

    def pending(self) -> int:
        """Changes queued or executing (possibly by another worker) right now."""
        q = select(func.count()).where(journal_table.c.state.in_(["queued", "executing"]))
        with self.executor.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def round(self, stats: WorkerStats) -> int:
        """Housekeeping, then claim and run up to :attr:`batch` changes one claim at a time.

        Claiming a batch up front would hold leases on changes that wait, unrenewed, behind the
        one running; one at a time, idle replicas pick up the rest meanwhile. Returns how many
        changes were claimed.
        """
        if self.before_round is not None:
            self.before_round()
        claimed = 0
        for _ in range(self.batch):
            got = self.executor.claim(1)
            if not got:
                break
            claimed += 1
            cid, token = got[0]
            if self.on_start is not None:
                try:
                    self.on_start(cid)
                except Exception:  # an announcement must not keep a claimed change from running
                    log.exception("CR-%s: announcing the start failed", cid)
            try:
                self.executor.step("claimed")
                report = self.executor.run(cid, token)
            except LeaseLost as exc:
                # Our claim expired and was taken over: the other worker owns the change now.
                log.warning("CR-%s: %s; left to the worker that took it over", cid, exc)
                stats.lost_leases += 1
                continue
            except IllegalTransition as exc:
                # Moved on meanwhile by someone else (a cancel, another replica's ending).
                log.warning("CR-%s: %s; left as it is", cid, exc)
                continue
            except Exception:
                log.exception("CR-%s: worker %s failed", cid, self.executor.worker_id)
                stats.errors += 1
                continue
            stats.runs += 1
            if stats.reports is not None:
                stats.reports.append(report)
            if self.on_report is not None:
                try:
                    self.on_report(report)
                except Exception:  # the change ran; a failed follow-up must not stop the loop
                    log.exception("CR-%s: follow-up after the run failed", cid)
                    stats.errors += 1
        return claimed

    def drain(self) -> WorkerStats:
        """Run rounds until one claims nothing (everything claimable now has run)."""
        stats = WorkerStats(reports=[])
        while self.round(stats):
            pass
        return stats

    def run(self, *, until_idle: bool = False, deadline: float | None = None) -> WorkerStats:
        """Work until :meth:`stop`, or (``until_idle``) until nothing is queued or executing.

        A failed round (the database away, say) is logged and tried again after the idle wait.

        Args:
            until_idle: Return once no change is queued or executing anywhere.
            deadline: ``time.monotonic()`` value after which to return regardless.
        """
        stats = WorkerStats()
        while not self.stop_event.is_set():
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                if self.round(stats):
                    continue
                if until_idle and self.pending() == 0:
                    break
            except Exception:
                log.exception("worker %s: round failed; retrying", self.executor.worker_id)
                stats.errors += 1
            self.wake.wait(self.idle_sleep)
            self.wake.clear()
        return stats

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current change."""
        self.stop_event.set()
        self.wake.set()
