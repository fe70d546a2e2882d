"""D1: a worker dies at each step boundary, then a restarted one finishes the change.

One real worker process is SIGKILLed per step kind (the non-repeatable reboot reaches every
boundary); the estate lives in the test process (served over a socket), so it survives the
killed worker like a real estate would, and calls and effects are counted in a SQLite call
store. The repeatable action's boundaries, where only its handling differs, die in-process (an
exception no handler catches, at the same hook) to keep the suite's time: what a kill adds over
that (no ``finally`` runs, the connection drops) is what the process cases check.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adapters.sim import SqliteCallStore
from agent.execution import FINAL_STATES, STEPS
from tests.agent.execution.harness import BEN, ROOT, World, build, serve_estate, sim_for
from tests.estate import small_estate
from twin.db import make_engine


def _worker(db: Path, tmp: Path, address: tuple[str, int], key: bytes, *extra: str) -> Any:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.agent.execution.worker_main",
            "--db",
            f"sqlite:///{db}",
            "--tmp",
            str(tmp),
            "--estate",
            f"{address[0]}:{address[1]}",
            "--authkey",
            key.hex(),
            "--lease",
            "0.5",
            "--deadline",
            "30",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _world(tmp: Path) -> tuple[Engine, World, Path]:
    db = tmp / "opshand.db"
    engine = make_engine(f"sqlite:///{db}")
    ents, rels = small_estate()
    sim = sim_for(ents, rels, store=SqliteCallStore(tmp / "calls.db"))
    return engine, build(engine, tmp, sim=sim), db


def _queue(w: World, action: str) -> int:
    from agent.service import ChangeRequest

    target = "contoso-dev-app" if action == "service.restart" else "contoso-ny-web-02"
    res = w.ops.propose(
        ChangeRequest(
            action=action, targets=[target], params={}, reason="d1", requester="T0TEST:U0ANA"
        )
    )
    assert res.change is not None and res.plan is not None, res.message
    if res.status == "consent":
        out = w.ops.vote(res.change.id, BEN, True, plan_hash=res.plan.hash, payload_id="p1")
        assert out.accepted, out.message
    assert w.ops.journal.get(res.change.id).state == "queued"
    return res.change.id


# Every boundary the zero-latency sim reaches for the non-repeatable action (its jobs end
# within the call, so "target_done" is reached only by slow jobs: test_d1_slow_job_*); for the
# repeatable one, the boundaries where its handling differs.
KILLED = [("host.reboot", s) for s in STEPS if s != "target_done"]
IN_PROCESS = [
    ("service.restart", s)
    for s in ("claimed", "target_calling", "call_returned", "call_recorded", "before_reconcile")
]
_LEASE = timedelta(seconds=0.5)


class _Died(BaseException):
    """The in-process worker dies at a step boundary (no handler of ours catches it)."""


@pytest.mark.parametrize(("action", "step"), KILLED, ids=[f"{a}-{s}" for a, s in KILLED])
def test_d1_sigkill_at_each_step_then_restart(action: str, step: str, tmp_path: Path) -> None:
    engine, w, db = _world(tmp_path)
    assert w.sim is not None
    cid = _queue(w, action)
    with serve_estate(w.sim) as (address, key):
        killed = _worker(db, tmp_path, address, key, "--crash-at", step, "--worker-id", "w1")
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert w.ops.journal.get(cid).state == "executing"  # the claim is stalled, not lost
        # The restarted worker waits for the stalled lease (0.5 s) to expire, then takes it.
        restarted = _worker(db, tmp_path, address, key, "--worker-id", "w2")
        assert restarted.returncode == 0, restarted.stderr[-2000:]
        assert json.loads(restarted.stdout.strip().splitlines()[-1])["runs"] == 1
    _check_restarted(w, cid, action, step)
    engine.dispose()


@pytest.mark.parametrize(("action", "step"), IN_PROCESS, ids=[f"{a}-{s}" for a, s in IN_PROCESS])
def test_d1_death_in_process_at_each_step_then_restart(
    action: str, step: str, tmp_path: Path
) -> None:
    engine, w, _ = _world(tmp_path)
    assert w.sim is not None
    cid = _queue(w, action)

    def die(at: str) -> None:
        if at == step:
            raise _Died(at)

    def worker(worker_id: str, hook: Any = None) -> World:
        return build(
            engine,
            tmp_path,
            sim=w.sim,
            seed=False,
            worker_id=worker_id,
            step_hook=hook,
            lease=_LEASE,
            sleep=time.sleep,
            checkpoint_every=0,
        )

    first = worker("w1", die)
    with pytest.raises(_Died):
        first.ops.worker(batch=1, idle_sleep=0.05).run(
            until_idle=True, deadline=time.monotonic() + 30
        )
    assert w.ops.journal.get(cid).state == "executing"  # the claim is stalled, not lost
    # The restarted worker waits for the stalled lease (0.5 s) to expire, then takes it.
    stats = (
        worker("w2")
        .ops.worker(batch=1, idle_sleep=0.05)
        .run(until_idle=True, deadline=time.monotonic() + 30)
    )
    assert stats.runs == 1
    _check_restarted(w, cid, action, step)
    engine.dispose()


def _check_restarted(w: World, cid: int, action: str, step: str) -> None:
    """What holds after the restarted worker: final, taken over once, effects at most once."""
    assert w.sim is not None
    method = "run_script" if action == "service.restart" else "reboot"
    change = w.ops.journal.get(cid)
    assert change.state in FINAL_STATES
    kinds = [r.kind for r in w.audit.query(change_id=str(cid), limit=500)]
    assert "change.lease_taken_over" in kinds  # the restarted worker took the stalled claim
    assert kinds.count("change.executing") == 1
    effects = w.sim.effects("rmm", method)
    sent = [c for c in w.sim.calls.filter(method=method) if c.outcome == "ok"]
    if action == "service.restart":
        # Repeatable: re-sent with the same key at worst, so it ends correct, applied once.
        assert change.state == "reconciled", change.result
        assert effects == 1
        assert w.sim.service_health("contoso-dev-app").status == "running"
    else:
        # Not repeatable: reached the estate at most once and never re-sent.
        assert effects <= 1 and len(sent) <= 1
        assert not w.sim.calls.filter(method=method, outcome="replayed")
        if step == "target_calling":
            # Killed before the request left: read back shows no reboot, people are told.
            assert effects == 0 and change.state == "escalated"
            assert "change.unknown" in kinds
        else:
            assert effects == 1 and change.state == "reconciled", change.result
        if step == "call_returned":
            # The outcome was never recorded: unknown -> read back -> verified.
            assert "change.unknown" in kinds and "change.verified" in kinds
    assert w.audit.verify().ok


def test_d1_worker_process_runs_the_production_loop(tmp_path: Path) -> None:
    """The crash tests' worker process runs production's loop, not a bare executor loop: consent
    expiry, closing undecided changes and the autonomy breaker all happen in it."""
    from sqlalchemy import select

    from agent.approval import autonomy_table
    from agent.execution import INTERRUPTED
    from agent.service import ChangeRequest
    from tests.agent.execution import worker_main
    from tests.agent.execution.harness import ANA, enqueue

    engine, w, db = _world(tmp_path)
    waiting = w.ops.propose(
        ChangeRequest(
            action="host.reboot",
            targets=["contoso-ny-web-02"],
            params={},
            reason="d1",
            requester=ANA,
        )
    )
    assert waiting.status == "consent" and waiting.change is not None
    undecided = w.ops.journal.create(
        action="service.restart",
        targets=["service:contoso-dev-app"],
        params={},
        reason="d1",
        requester=ANA,
        source="person",
    )
    queued = enqueue(w, "service.restart", ["contoso-dev-app"])
    calls = str(tmp_path / "calls.db")
    argv = ["--db", f"sqlite:///{db}", "--tmp", str(tmp_path), "--store", calls, "--deadline", "30"]
    # Three days later: the consent request and the plan have expired, the proposal is stale.
    assert worker_main.main([*argv, "--skew", str(3 * 86400)]) == 0
    journal = w.ops.journal
    assert journal.get(waiting.change.id).state == "expired"
    closed = journal.get(undecided.id)
    assert closed.state == "denied" and (closed.result or {})["message"] == INTERRUPTED
    ran = journal.get(queued.id)
    assert ran.state == "escalated" and (ran.result or {})["refusal"]["check"] == "expiry"
    with engine.connect() as conn:
        noted = conn.execute(
            select(autonomy_table.c.change_id).where(autonomy_table.c.kind == "failure")
        ).scalars()
        assert list(noted) == [queued.id]  # the breaker counted the failure
    engine.dispose()
