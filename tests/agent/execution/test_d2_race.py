"""D2: workers race for one queue; each change is claimed and executed once, and a late write
from a stale claim is rejected."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from adapters.sim import SqliteCallStore
from agent.execution import IllegalTransition, LeaseLost, journal_table
from tests.agent.execution.harness import ANA, ROOT, build, enqueue, sim_for
from tests.conftest import _drop_schema, _pg_engine, postgres_url
from tests.estate import small_estate
from tests.profiles import budget
from twin.model import utcnow

# 1,000 changes under the ``thorough`` profile; 300 routinely (about a third of the time): three
# workers still race for every claim, and each change executed once is checked one by one.
N_CHANGES = budget(1000, routine=300)
N_WORKERS = 3


@pytest.mark.postgres
@pytest.mark.timeout(
    900
)  # up to 3,000 journal runs on a shared machine; a bound, not a speed limit
def test_d2_three_worker_processes_execute_each_change_once(tmp_path: Path) -> None:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = _pg_engine(schema)
    try:
        _race(engine, schema, tmp_path)
    finally:
        engine.dispose()
        _drop_schema(schema)


def _race(engine: Engine, schema: str, tmp: Path) -> None:
    url = postgres_url()
    assert url is not None
    ents, rels = small_estate()
    calls = tmp / "calls.db"
    w = build(engine, tmp, sim=sim_for(ents, rels, store=SqliteCallStore(calls)))
    first = enqueue(w, "service.restart", ["contoso-dev-app"])
    now = utcnow()
    # The other changes carry the same rehearsed plan (the queue is what is under test).
    with engine.begin() as conn:
        conn.execute(
            insert(journal_table),
            [
                {
                    "state": "queued",
                    "action": first.action,
                    "targets": first.targets,
                    "params": first.params,
                    "reason": f"race {i}",
                    "requester": ANA,
                    "source": "person",
                    "channel": "",
                    "thread_ts": "",
                    "plan": first.plan,
                    "plan_hash": first.plan_hash,
                    "decision": first.decision,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(N_CHANGES - 1)
            ],
        )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.agent.execution.worker_main",
                "--db",
                url,
                "--schema",
                schema,
                "--tmp",
                str(tmp),
                "--store",
                str(calls),
                "--worker-id",
                f"w{i}",
                "--batch",
                "5",
                "--deadline",
                "600",  # a bound for a stuck run, not a speed limit (bench/ measures speed)
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(N_WORKERS)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(o.strip().splitlines()[-1])["runs"] for o, _ in outs]
    assert sum(runs) == N_CHANGES
    assert sum(1 for r in runs if r > 0) >= 2  # the workers really raced
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                select(journal_table.c.state, func.count()).group_by(journal_table.c.state)
            ).all()
        )
    assert states == {"reconciled": N_CHANGES}
    # The sim saw each change exactly once: one applied call per key, no replays.
    scripts = SqliteCallStore(calls).records()
    scripts = [r for r in scripts if r.method == "run_script"]
    assert Counter(r.outcome for r in scripts) == {"ok": N_CHANGES}
    assert len({r.idempotency_key for r in scripts}) == N_CHANGES
    executing = Counter(r.change_id for r in w.audit.iter_rows() if r.kind == "change.executing")
    assert len(executing) == N_CHANGES and set(executing.values()) == {1}
    assert w.audit.verify().ok


def test_d2_late_write_from_stale_claim_rejected(engine: Engine, tmp_path: Path) -> None:
    clock = [utcnow()]
    a = build(engine, tmp_path, now=lambda: clock[0], worker_id="a")
    b = build(engine, tmp_path, seed=False, now=lambda: clock[0], worker_id="b")
    c = enqueue(a, "service.restart", ["contoso-dev-app"])
    [(cid, token_a)] = a.executor.claim()
    assert cid == c.id and b.executor.claim() == []  # a live claim is not taken
    clock[0] += timedelta(seconds=120)  # worker a stalls past its lease
    [(_, token_b)] = b.executor.claim()
    assert token_b != token_a
    # a typed signal (a LeaseLost), not words to search for in an IllegalTransition
    with pytest.raises(LeaseLost):
        a.executor.heartbeat(cid, token_a)
    with pytest.raises(LeaseLost):
        a.ops.journal.move(cid, "succeeded", actor="system:a", lease_token=token_a)
    with pytest.raises(LeaseLost):
        a.executor.run(cid, token_a)
    # a move the state machine refuses is not a lost lease
    with pytest.raises(IllegalTransition) as refused:
        a.ops.journal.move(cid, "proposed", actor="system:b", lease_token=token_b)
    assert not isinstance(refused.value, LeaseLost)
    assert a.sim is not None and a.sim.effects("rmm", "run_script") == 0
    report = b.executor.run(cid, token_b)
    assert report.final_state == "reconciled"
    kinds = [r.kind for r in a.audit.query(change_id=str(cid), limit=100)]
    assert kinds.count("change.lease_taken_over") == 1
    assert kinds.count("change.reconciled") == 1


def test_d2_worker_claims_one_change_at_a_time(engine: Engine, tmp_path: Path) -> None:
    """Changes queued behind the running one stay claimable by other workers (no idle leases)."""
    seen_by_b: list[list[tuple[int, str]]] = []
    b_box: list[Any] = []

    def while_a_runs(step: str) -> None:
        if step == "claimed" and not seen_by_b:
            seen_by_b.append(b_box[0].executor.claim(10))

    a = build(engine, tmp_path, worker_id="a", step_hook=while_a_runs)
    b_box.append(build(engine, tmp_path, seed=False, worker_id="b"))
    queued = [enqueue(a, "service.restart", ["contoso-dev-app"]).id for _ in range(3)]
    reports = a.ops.worker(batch=10).drain().reports or []
    # b claimed the two a had not started; a ran only what it claimed
    assert sorted(cid for cid, _ in seen_by_b[0]) == queued[1:]
    assert [r.change_id for r in reports] == [queued[0]]


def test_d2_lease_lost_mid_run_is_a_warning_not_a_crash(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [utcnow()]
    b_box: list[Any] = []

    def stall(step: str) -> None:
        if step == "claimed":
            clock[0] += timedelta(seconds=120)  # a stalls past its lease; b takes over
            assert b_box[0].executor.claim(1)

    a = build(engine, tmp_path, now=lambda: clock[0], worker_id="a", step_hook=stall)
    b_box.append(build(engine, tmp_path, seed=False, now=lambda: clock[0], worker_id="b"))
    enqueue(a, "service.restart", ["contoso-dev-app"])
    with caplog.at_level("WARNING", logger="agent.execution.worker"):
        stats = a.ops.worker(batch=1).drain()
    assert stats.runs == 0 and stats.lost_leases == 1 and stats.errors == 0
    assert any("lease lost" in r.getMessage() for r in caplog.records)
    assert a.sim is not None and a.sim.effects("rmm", "run_script") == 0
