"""Run-once jobs across replicas: an expiring lease plus a "done" marker in ``slack_job``.

A permanent claim (insert a key, never delete it) loses the job when its holder dies between
the claim and the work. Here a replica *leases* the job's key until ``lease_until``; when the
holder dies the lease expires and another replica takes the job over. Finishing writes
``done_at`` and the result (for the digest: the message ts), after which nobody runs it again.

Both steps are single-statement conditional writes (an insert, or an ``UPDATE … WHERE`` on the
one row), so the database arbitrates races on SQLite and PostgreSQL alike; there is no election.
``attempts`` counts acquisitions: above one, an earlier holder may have done the work without
recording it (it crashed, or the response was lost), and the job should check before redoing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.exc import IntegrityError

from bot.tables import jobs
from twin import utcnow

__all__ = ["JobLease", "acquire_job", "finish_job", "job_result", "release_job"]


@dataclass(frozen=True, kw_only=True)
class JobLease:
    """A lease held on a job."""

    key: str
    owner: str
    until: datetime
    attempt: int
    """1 for the first acquisition; higher means an earlier holder may have done the work."""


def acquire_job(
    engine: Engine, key: str, owner: str, ttl: timedelta, *, now: datetime | None = None
) -> JobLease | None:
    """Lease ``key`` for ``ttl``; None if it is done or leased by someone else and not expired.

    Args:
        engine: the shared database.
        key: the job's key (at most 128 characters).
        owner: who takes it (replica id); recorded so only the holder renews or releases.
        ttl: how long the lease lasts; longer than the job can take.
        now: the current time (tests).
    """
    if len(key) > 128 or not key:
        raise ValueError(f"job key must be 1-128 characters, got {len(key)}: {key[:40]!r}")
    at = now or utcnow()
    until = at + ttl
    try:
        with engine.begin() as conn:
            conn.execute(
                jobs.insert().values(key=key, lease_owner=owner, lease_until=until, attempts=1)
            )
        return JobLease(key=key, owner=owner, until=until, attempt=1)
    except IntegrityError:
        pass
    # The row exists: take it over only if not done and its lease lapsed (or was released).
    # One conditional UPDATE, so two replicas racing for an expired lease cannot both win.
    with engine.begin() as conn:
        res = conn.execute(
            jobs.update()
            .where(
                and_(
                    jobs.c.key == key,
                    jobs.c.done_at.is_(None),
                    or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < at),
                )
            )
            .values(lease_owner=owner, lease_until=until, attempts=jobs.c.attempts + 1)
        )
        if res.rowcount != 1:
            return None
        attempt = conn.execute(select(jobs.c.attempts).where(jobs.c.key == key)).scalar_one()
    return JobLease(key=key, owner=owner, until=until, attempt=int(attempt))


def finish_job(
    engine: Engine, lease: JobLease, result: str, *, now: datetime | None = None
) -> bool:
    """Mark the job done with ``result``; False if it was already marked done (by anyone).

    The holder's lease is not required to be current: the work *was* done, and recording it
    stops a replica that took over an expired lease from starting it again.
    """
    with engine.begin() as conn:
        res = conn.execute(
            jobs.update()
            .where(and_(jobs.c.key == lease.key, jobs.c.done_at.is_(None)))
            .values(done_at=now or utcnow(), result=result[:128], lease_owner=lease.owner)
        )
    return res.rowcount == 1


def release_job(engine: Engine, lease: JobLease) -> bool:
    """Give the lease back early (the work failed) so the next try need not wait for expiry."""
    with engine.begin() as conn:
        res = conn.execute(
            jobs.update()
            .where(
                and_(
                    jobs.c.key == lease.key,
                    jobs.c.lease_owner == lease.owner,
                    jobs.c.done_at.is_(None),
                )
            )
            .values(lease_until=None)
        )
    return res.rowcount == 1


def job_result(engine: Engine, key: str) -> str | None:
    """The recorded result of a finished job, or None when it is not done."""
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.result, jobs.c.done_at).where(jobs.c.key == key)).first()
    if row is None or row.done_at is None:
        return None
    return str(row.result or "")
