"""A scheduled change across two service instances on one database (G4): it is released once
at its time, and when the instance holding its lease dies mid-run the other takes it over and
the change reaches the estate exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from agent.service import ChangeRequest
from tests.agent.execution.harness import ANA, build, sim_for
from tests.estate import small_estate

AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Died(BaseException):
    """The process ended where it stood (not an error the executor handles)."""


def test_g4_replica_takes_over_a_scheduled_change_whose_holder_died(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(AT - timedelta(hours=10))
    sim = sim_for(*small_estate())

    def die_after_the_call(step: str) -> None:
        if step == "call_returned":
            raise Died

    a = build(
        engine,
        tmp_path / "a",
        sim=sim,
        now=clock,
        lease=LEASE,
        worker_id="replica-a",
        step_hook=die_after_the_call,
    )
    b = build(
        engine, tmp_path / "b", sim=sim, seed=False, now=clock, lease=LEASE, worker_id="replica-b"
    )
    res = a.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="tonight",
            requester=ANA,
            not_before=AT,
        )
    )
    assert res.change is not None and res.status == "auto", res.message
    cid = res.change.id
    assert b.ops.journal.get(cid).state == "scheduled"
    assert a.ops.drain() == [] and b.ops.drain() == []  # not before its time

    clock.at = AT
    # Both replicas reach its time together: it is released once.
    released = [*a.ops.release_due(), *b.ops.release_due()]
    assert [c.id for c in released] == [cid]
    # Replica A claims it, sends the restart and dies before recording the result.
    try:
        a.ops.drain()
    except Died:
        pass
    else:  # pragma: no cover - the hook must fire
        raise AssertionError("replica A did not reach the call")
    assert b.ops.journal.get(cid).state == "executing"
    assert sim.effects("rmm", "run_script") == 1
    # B leaves A's claim alone while its lease holds ...
    clock.at = AT + LEASE / 2
    assert b.ops.drain() == []
    # ... and takes it over once the lease has run out, without running the restart again.
    clock.at = AT + LEASE + timedelta(seconds=1)
    reports = b.ops.drain()
    assert [(r.change_id, r.final_state) for r in reports] == [(cid, "reconciled")]
    assert sim.effects("rmm", "run_script") == 1
    assert b.ops.drain() == []
    kinds = [r.kind for r in b.audit.query(change_id=str(cid), limit=100)]
    assert kinds.count("change.scheduled") == 1 and kinds.count("change.queued") == 1
    assert "change.lease_taken_over" in kinds
    assert b.audit.verify().ok
