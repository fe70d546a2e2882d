"""D3 (idempotency key reused with other parameters), D4 (database lost between the estate's
success and recording it), and a crash while a slow job runs (resume from ``submitted``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from adapters.sim import ManualClock, SimEstate, SimTimings
from agent.execution import WorkerStats, call_table, target_table
from tests.agent.execution.harness import build, enqueue
from tests.estate import small_estate
from twin.model import utcnow


class _Crash(BaseException):
    """Stands for the process dying: nothing in the executor catches it."""


def test_d3_same_key_other_parameters_fails_and_executes_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build(engine, tmp_path)
    assert w.sim is not None
    # Keys carry a random part so a restored database does not reissue them; pin it here to
    # stage the collision the vendor must refuse.
    monkeypatch.setattr("agent.execution.journal.secrets.token_hex", lambda n: "0" * (2 * n))
    c = enqueue(w, "service.restart", ["contoso-dev-app"])
    installation = w.ops.journal.installation
    prefix = f"{installation}:" if installation else ""
    key = f"{prefix}{c.ref}:00000000:service:contoso-dev-app:host:contoso-ny-dev-01"
    # Something else already used this key (say a restored database reissued CR numbers).
    w.sim.rmm.run_script("dev-dev-01", "collect-logs", {}, idempotency_key=key)
    [report] = w.ops.drain()
    assert w.sim.effects("rmm", "run_script") == 1  # only the earlier, unrelated call
    assert [x.outcome for x in w.sim.calls.filter(method="run_script")][-1] == (
        "IdempotencyConflict"
    )
    assert report.final_state == "escalated"
    with engine.connect() as conn:
        detail = conn.execute(select(target_table.c.detail)).scalar_one()
    assert "already used with other parameters" in detail and "nothing was executed" in detail


@pytest.mark.parametrize("action", ["host.reboot", "service.restart"])
def test_d4_db_lost_after_estate_success_found_on_read_back_not_repeated(
    action: str, engine: Engine, tmp_path: Path
) -> None:
    clock = [utcnow()]

    def lose_db(step: str) -> None:
        if step == "call_returned":
            raise OperationalError("UPDATE journal_target", {}, Exception("connection lost"))

    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, timings=SimTimings(scale=0))
    a = build(engine, tmp_path, sim=sim, step_hook=lose_db, now=lambda: clock[0])
    target = "contoso-dev-app" if action == "service.restart" else "contoso-ny-web-02"
    c = enqueue(a, action, [target])
    stats = WorkerStats()
    assert a.ops.worker(batch=1).round(stats) == 1
    assert stats.errors == 1  # the worker survived the lost connection
    assert a.ops.journal.get(c.id).state == "executing"
    method = "reboot" if action == "host.reboot" else "run_script"
    assert sim.effects("rmm", method) == 1
    with engine.connect() as conn:
        ledger = conn.execute(select(call_table)).one()
    assert ledger.outcome == "calling"  # the ledger knows a call may have gone out
    clock[0] += timedelta(minutes=5)  # the lease runs out; another worker takes over
    b = build(engine, tmp_path, sim=sim, seed=False, now=lambda: clock[0], worker_id="b")
    [report] = b.ops.drain()
    assert report.final_state == "reconciled", report.message
    assert sim.effects("rmm", method) == 1  # not executed again
    sent = [x.outcome for x in sim.calls.filter(method=method)]
    if action == "host.reboot":
        assert sent == ["ok"]  # never re-sent: the read-back found it
        assert "change.verified" in [r.kind for r in b.audit.query(change_id=str(c.id))]
    else:
        assert sent == ["ok", "replayed"]  # re-sent with its key: the estate matched it


def test_d1_slow_job_crash_after_submit_resumes_by_job_id(engine: Engine, tmp_path: Path) -> None:
    clock = ManualClock()
    ents, rels = small_estate()
    sim = SimEstate.from_twin(ents, rels, clock=clock, timings=SimTimings())

    def crash(step: str) -> None:
        if step == "call_recorded":
            raise _Crash

    a = build(engine, tmp_path, sim=sim, step_hook=crash, now=clock.now)
    enqueue(a, "host.reboot", ["contoso-ny-web-02"])
    with pytest.raises(_Crash):
        a.ops.drain()
    with engine.connect() as conn:
        assert conn.execute(select(target_table.c.state)).scalar_one() == "submitted"
    clock.advance(61)  # the lease expires
    steps: list[str] = []
    b = build(
        engine,
        tmp_path,
        sim=sim,
        seed=False,
        now=clock.now,
        worker_id="b",
        step_hook=steps.append,
        sleep=lambda s: clock.advance(10),
    )
    [report] = b.ops.drain()
    assert "target_done" in steps and "target_calling" not in steps
    assert report.final_state == "reconciled", report.message
    assert len(sim.calls.filter(method="reboot")) == 1
