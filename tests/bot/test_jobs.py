"""Run-once jobs: an expiring lease plus a done marker, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.jobs import acquire_job, finish_job, job_result, release_job
from twin.model import utcnow

TTL = timedelta(minutes=5)


def test_racing_replicas_get_the_lease_once(engine: Engine) -> None:
    wins: list[object] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        lease = acquire_job(engine, "digest:2026-01-01", f"r{i}", TTL)
        if lease is not None:
            wins.append(lease)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_an_expired_lease_is_taken_over_and_counts_the_attempt(engine: Engine) -> None:
    t0 = utcnow()
    first = acquire_job(engine, "job:a", "dead", TTL, now=t0)
    assert first is not None and first.attempt == 1
    assert acquire_job(engine, "job:a", "alive", TTL, now=t0 + TTL / 2) is None  # still held
    taken = acquire_job(engine, "job:a", "alive", TTL, now=t0 + TTL + timedelta(seconds=1))
    assert taken is not None and taken.owner == "alive" and taken.attempt == 2
    # the dead holder, back from a pause, cannot release the lease it lost
    assert not release_job(engine, first)


def test_a_finished_job_is_never_run_again(engine: Engine) -> None:
    t0 = utcnow()
    lease = acquire_job(engine, "job:b", "r1", TTL, now=t0)
    assert lease is not None
    assert job_result(engine, "job:b") is None
    assert finish_job(engine, lease, "1700000000.000100")
    assert job_result(engine, "job:b") == "1700000000.000100"
    assert acquire_job(engine, "job:b", "r2", TTL, now=t0 + 10 * TTL) is None
    assert not finish_job(engine, lease, "other")  # done once, recorded once
    assert job_result(engine, "job:b") == "1700000000.000100"


def test_a_released_lease_is_free_before_it_expires(engine: Engine) -> None:
    t0 = utcnow()
    lease = acquire_job(engine, "job:c", "r1", TTL, now=t0)
    assert lease is not None and release_job(engine, lease)
    again = acquire_job(engine, "job:c", "r2", TTL, now=t0 + timedelta(seconds=1))
    assert again is not None and again.attempt == 2


def test_bad_job_key_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="job key must be 1-128 characters"):
        acquire_job(engine, "x" * 129, "r1", TTL)
