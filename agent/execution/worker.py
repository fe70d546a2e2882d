"""A worker loop around the :class:`~agent.execution.executor.Executor`, for a worker process or
thread.

Several workers (processes or replicas) may run against one PostgreSQL database: each claims
queued changes with ``FOR UPDATE SKIP LOCKED`` and a lease token, so every change runs once; a
worker that dies leaves its claim to expire and another takes it over. On SQLite run one worker
per database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from agent.execution.executor import ExecutionReport, Executor
from agent.execution.journal import IllegalTransition, journal_table

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What a worker did in one :meth:`Worker.run`."""

    runs: int = 0
    """Changes it ran (to a final state or handed back)."""
    lost_leases: int = 0
    """Changes it stopped because another worker took its claim over."""
    errors: int = 0
    """Unexpected errors (logged; the change's lease then expires and is taken over)."""


class Worker:
    """Polls the journal and runs what it can claim.

    Args:
        executor: The executor that claims and runs changes.
        batch: Changes claimed per round.
        idle_sleep: Seconds to wait when nothing could be claimed.
        on_report: Called with every execution report (to announce results).
        sleep: Injected for tests.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        batch: int = 1,
        idle_sleep: float = 0.2,
        on_report: Callable[[ExecutionReport], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.executor = executor
        self.batch = batch
        self.idle_sleep = idle_sleep
        self.on_report = on_report
        self.sleep = sleep
        self.stop_event = threading.Event()

    def pending(self) -> int:
        """Changes queued or executing (possibly by another worker) right now."""
        q = select(func.count()).where(journal_table.c.state.in_(["queued", "executing"]))
        with self.executor.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def round(self, stats: WorkerStats) -> int:
        """Claim once and run what was claimed; returns how many changes were claimed."""
        claimed = self.executor.claim(self.batch)
        for cid, token in claimed:
            try:
                self.executor.step("claimed")
                report = self.executor.run(cid, token)
            except IllegalTransition as exc:
                # Our claim expired and was taken over: the other worker owns the change now.
                log.warning("CR-%s: %s", cid, exc)
                stats.lost_leases += 1
                continue
            except Exception:
                log.exception("CR-%s: worker %s failed", cid, self.executor.worker_id)
                stats.errors += 1
                continue
            stats.runs += 1
            if self.on_report is not None:
                self.on_report(report)
        return len(claimed)

    def run(self, *, until_idle: bool = False, deadline: float | None = None) -> WorkerStats:
        """Work until :meth:`stop`, or (``until_idle``) until nothing is queued or executing.

        Args:
            until_idle: Return once no change is queued or executing anywhere.
            deadline: ``time.monotonic()`` value after which to return regardless.
        """
        stats = WorkerStats()
        while not self.stop_event.is_set():
            if deadline is not None and time.monotonic() > deadline:
                break
            if self.round(stats):
                continue
            if until_idle and self.pending() == 0:
                break
            self.sleep(self.idle_sleep)
        return stats

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current change."""
        self.stop_event.set()
