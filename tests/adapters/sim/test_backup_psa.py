"""Backups and restores that roll data back; PSA ticket flow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.errors import AdapterError, NotFound
from adapters.sim import ManualClock, SimEstate
from tests.adapters.sim.conftest import START


def test_backup_jobs_and_restore_points_follow_the_twin(sim: SimEstate) -> None:
    (job,) = sim.backup.list_jobs()
    assert job.job_id == "bj-db01" and job.protects == ("contoso-ny-db-01",)
    assert job.last_result == "success"
    points = sim.backup.restore_points("contoso-ny-db-01")
    assert len(points) == 8  # 7 daily + the older tested one
    assert points[0].created_at == START - timedelta(hours=5)
    tested = [p for p in points if p.tested_at]
    assert len(tested) == 1
    assert tested[0].created_at <= START - timedelta(days=10, hours=2)
    with pytest.raises(NotFound):
        sim.backup.restore_points("nothing")


def test_backup_restore_rolls_data_back(sim: SimEstate, clock: ManualClock) -> None:
    point = sim.backup.restore_points("contoso-ny-db-01")[1]
    job = sim.backup.start_restore(point.point_id, idempotency_key="x")
    assert job.kind == "restore" and job.target == "contoso-ny-db-01"
    clock.advance(5)
    assert sim.backup.restore_status(job.job_id).state == "running"
    assert sim.data_as_of("contoso-ny-db-01") is None
    clock.advance(600)
    done = sim.backup.restore_status(job.job_id)
    assert done.state == "succeeded"
    assert sim.data_as_of("contoso-ny-db-01") == point.created_at
    with pytest.raises(NotFound):
        sim.backup.start_restore("nope", idempotency_key="y")
    with pytest.raises(NotFound):
        sim.rmm.job_status(job.job_id)  # a restore job is not an RMM job


def test_backup_drift_backup_now_adds_point(sim: SimEstate, clock: ManualClock) -> None:
    clock.advance(3600)
    pid = sim.drift.backup_now("bj-db01")
    assert sim.backup.restore_points("contoso-ny-db-01")[0].point_id == pid
    assert sim.backup.list_jobs()[0].last_run == START + timedelta(hours=1)


def test_psa_ticket_lifecycle(sim: SimEstate) -> None:
    t = sim.psa.create_ticket("Disk full", "db-01 C: at 99%", priority="high", idempotency_key="c")
    assert t.number == "TCK-1002" and t.status == "new"
    sim.psa.comment(t.ticket_id, "looking", idempotency_key="c1")
    sim.psa.update_status(t.ticket_id, "in_progress", idempotency_key="s1")
    sim.psa.escalate(t.ticket_id, "needs DBA", idempotency_key="e1")
    closed = sim.psa.close(t.ticket_id, "purged logs", idempotency_key="x1")
    assert closed.status == "closed" and closed.escalated
    assert closed.comments == ("looking", "Escalated: needs DBA", "Resolution: purged logs")
    with pytest.raises(AdapterError, match="closed"):
        sim.psa.update_status(t.ticket_id, "new", idempotency_key="s2")
    assert sim.psa.get_ticket("tk-1001").number == "TCK-1001"


def test_psa_bad_input_is_refused(sim: SimEstate) -> None:
    with pytest.raises(AdapterError, match="priority"):
        sim.psa.create_ticket("x", "y", priority="urgent!!", idempotency_key="c")
    with pytest.raises(NotFound):
        sim.psa.comment("tk-none", "hi", idempotency_key="c2")
