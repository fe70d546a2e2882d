"""Following an integration's jobs to their end: status reads, polling, the job timeout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.contracts import Job, RmmContract
from adapters.errors import AdapterError
from agent.execution.calls import job_verdict, jobs_ended
from agent.execution.capabilities import Adapters
from agent.execution.source_ids import CapabilityError

__all__ = ["JOB_TIMEOUT", "refresh", "statuses", "wait"]

JOB_TIMEOUT = timedelta(minutes=30)
"""How long a change waits for its jobs before their outcome counts as unknown."""


def refresh(rmm: RmmContract | None, jobs: list[Job]) -> list[Job]:
    """One status read of the jobs still running (errors leave them as they were)."""
    if rmm is None or not jobs:
        return jobs
    try:
        return [j if jobs_ended([j]) else rmm.job_status(j.job_id) for j in jobs]
    except AdapterError:
        return jobs


def statuses(adapters: Adapters, tid: str, job_ids: str | None) -> list[Job]:
    """The jobs a target recorded (``a,b``) as they stand now; unreadable ones are unknown."""
    try:
        rmm = adapters.need("rmm")
        return [rmm.job_status(j) for j in (job_ids or "").split(",") if j]
    except (AdapterError, CapabilityError) as exc:
        return [
            Job(
                job_id=job_ids or "?",
                state="unknown",
                target=tid,
                kind="?",
                detail=f"job status unavailable: {exc}",
            )
        ]


def wait(
    rmm: RmmContract | None,
    jobs: list[Job],
    *,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    poll_interval: float,
    beat: Callable[[], None],
) -> tuple[str, str]:
    """Poll until every job ended (or :data:`JOB_TIMEOUT`); ``beat`` renews the lease."""
    if not jobs:
        return "done", "applied"
    deadline = now() + JOB_TIMEOUT
    pending = list(jobs)
    while True:
        if jobs_ended(pending):
            return job_verdict(pending)
        if now() > deadline or rmm is None:
            return "unknown", "jobs did not finish in time"
        sleep(poll_interval)
        beat()
        try:
            pending = [
                rmm.job_status(j.job_id) if j.state not in ("succeeded", "failed") else j
                for j in pending
            ]
        except AdapterError as exc:
            return "unknown", f"job status unavailable: {exc}"
