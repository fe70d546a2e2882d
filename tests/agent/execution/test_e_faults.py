"""E1-E4, E6, E7: integration faults during execution, on the sim with fault injection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from adapters import CircuitOpen, ResilienceOptions
from adapters.sim import FaultRule
from agent.execution import Adapters, HoldPolicy, call_table, target_table
from tests.agent.execution.harness import World, build, enqueue, sim_adapters, sim_for
from tests.estate import small_estate
from twin.model import Entity, NodeKind, Relation


def _kinds(w: World, cid: int) -> list[str]:
    return [r.kind for r in w.audit.query(change_id=str(cid), limit=1000)]


def _targets(engine: Engine, cid: int) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(target_table).where(target_table.c.change_id == cid))
        return {r.target: (r.state, r.detail) for r in rows}


def test_e1_5xx_on_idempotent_call_retried_with_jitter_then_failed(
    engine: Engine, tmp_path: Path
) -> None:
    waits: list[float] = []
    w = build(engine, tmp_path, sleep=waits.append)
    assert w.sim is not None
    w.sim.faults.add(FaultRule(category="rmm", call="run_script", kind="error"))
    c = enqueue(w, "service.restart", ["contoso-dev-app"])
    [report] = w.ops.drain()
    calls = w.sim.calls.filter(method="run_script")
    assert [x.outcome for x in calls] == ["TransientError"] * 3  # bounded: 3 attempts
    assert len(waits) == 2 and all(0 <= s <= 1.0 for s in waits)  # jittered backoff
    assert waits[0] <= 0.5
    change = w.ops.journal.get(c.id)
    assert "change.failed" in _kinds(w, c.id) and change.state == "escalated"
    assert "gave up after 3 attempts" in report.message + str(change.result)
    assert "HTTP 503" in str(change.result)
    assert w.sim.effects("rmm", "run_script") == 0


def test_e1_non_idempotent_call_is_never_retried(engine: Engine, tmp_path: Path) -> None:
    w = build(engine, tmp_path)
    assert w.sim is not None
    w.sim.faults.add(FaultRule(category="rmm", call="reboot", kind="error"))
    c = enqueue(w, "host.reboot", ["contoso-ny-web-02"])
    w.ops.drain()
    assert len(w.sim.calls.filter(method="reboot")) == 1
    state, detail = _targets(engine, c.id)["host:contoso-ny-web-02"]
    assert state == "failed" and "not retried because host.reboot is not idempotent" in detail


def test_e2_read_timeout_after_apply_goes_unknown_then_verified(
    engine: Engine, tmp_path: Path
) -> None:
    w = build(engine, tmp_path)
    assert w.sim is not None
    w.sim.faults.add(FaultRule(category="rmm", call="reboot", kind="timeout", times=1))
    c = enqueue(w, "host.reboot", ["contoso-ny-web-02"])
    [report] = w.ops.drain()
    assert [x.outcome for x in w.sim.calls.filter(method="reboot")] == ["AmbiguousOutcome"]
    assert w.sim.effects("rmm", "reboot") == 1  # applied once, never re-sent
    kinds = _kinds(w, c.id)
    assert kinds.index("change.unknown") < kinds.index("change.verified")
    assert report.final_state == "reconciled"
    assert "read-back matches" in report.message


def test_e2_read_timeout_with_failed_apply_is_escalated(engine: Engine, tmp_path: Path) -> None:
    w = build(engine, tmp_path)
    assert w.sim is not None
    w.sim.faults.add(FaultRule(category="rmm", call="reboot", kind="timeout", times=1))
    w.sim.faults.add(FaultRule(category="rmm", call="reboot", kind="partial_failure", times=1))
    c = enqueue(w, "host.reboot", ["contoso-ny-web-02"])
    [report] = w.ops.drain()
    assert len(w.sim.calls.filter(method="reboot")) == 1
    assert report.final_state == "escalated"
    assert "change.unknown" in _kinds(w, c.id)
    assert "boot time did not move" in report.message


def test_e3_retry_after_honoured_and_requester_told(engine: Engine, tmp_path: Path) -> None:
    waits: list[float] = []
    w = build(engine, tmp_path, sleep=waits.append)
    assert w.sim is not None
    w.sim.faults.add(
        FaultRule(category="rmm", call="run_script", kind="rate_limit", retry_after=30, times=1)
    )
    c = enqueue(w, "service.restart", ["contoso-dev-app"])
    [report] = w.ops.drain()
    assert report.final_state == "reconciled"
    assert sum(waits) == 30
    assert report.delays[0]["retry_after"] == 30 and not report.delays[0]["capped"]
    assert "waited 30s for rate limits of sim-rmm" in report.message
    rows = w.audit.query(change_id=str(c.id), kind="integration.rate_limited")
    assert rows and rows[0].body["waited"] == 30  # audited while waiting: the bot can say so
    assert w.ops.journal.get(c.id).result["delays"][0]["waited"] == 30  # type: ignore[index]


def test_e3_huge_retry_after_is_capped(engine: Engine, tmp_path: Path) -> None:
    waits: list[float] = []
    w = build(
        engine, tmp_path, sleep=waits.append, resilience=ResilienceOptions(retry_after_cap=120)
    )
    assert w.sim is not None
    w.sim.faults.add(
        FaultRule(category="rmm", call="run_script", kind="rate_limit", retry_after=86_400, times=1)
    )
    enqueue(w, "service.restart", ["contoso-dev-app"])
    [report] = w.ops.drain()
    assert report.final_state == "reconciled"
    assert sum(waits) == 120 and report.delays[0]["capped"]


def _users(n: int) -> tuple[list[Entity], list[Relation]]:
    ents, rels = small_estate()
    ents += [
        Entity(
            id=f"identity:user-{i:02d}",
            kind=NodeKind.IDENTITY,
            name=f"user-{i:02d}",
            source="test",
            source_ref=f"user-{i:02d}",
            attrs={
                "client": "contoso",
                "username": f"user-{i:02d}",
                "user_id": f"u-{i:02d}",
                "status": "active",
            },
        )
        for i in range(n)
    ]
    return ents, rels


def _wave_run(engine: Engine, tmp: Path, threshold: float) -> tuple[World, int]:
    w = build(engine, tmp, estate=_users(13))
    assert w.sim is not None
    c = enqueue(
        w,
        "identity.disable",
        [f"user-{i:02d}" for i in range(13)],
        wave_percent=77,
        halt_threshold=threshold,
    )
    plan = w.ops.journal.get(c.id).plan or {}
    assert [len(x) for x in plan["waves"]] == [1, 10, 2]
    for uid in (plan["waves"][1][1], plan["waves"][1][4], plan["waves"][1][7]):
        w.sim.faults.add(
            FaultRule(
                category="identity",
                call="disable_user",
                target=uid.replace("identity:user", "u"),
                kind="error",
            )
        )
    w.ops.drain()
    return w, c.id


def test_e4_three_of_ten_fail_above_threshold_halts_and_rolls_back(
    engine: Engine, tmp_path: Path
) -> None:
    w, cid = _wave_run(engine, tmp_path, threshold=0.25)
    assert w.sim is not None
    states = _targets(engine, cid)
    counts: dict[str, int] = {}
    for s, _ in states.values():
        counts[s] = counts.get(s, 0) + 1
    assert counts == {"failed": 3, "skipped": 2, "rolled_back": 8}
    assert w.ops.journal.get(cid).state == "rolled_back"
    assert all(
        u.status == "active" for u in w.sim.identity.list_users() if u.user_id.startswith("u-")
    )
    assert w.sim.effects("identity", "enable_user") == 8
    per_target = {
        r.body["target"]
        for r in w.audit.query(change_id=str(cid), kind="change.target", limit=1000)
    }
    assert per_target == set(states)  # audit per target
    assert "halted in wave 1" in str(w.ops.journal.get(cid).result)


def test_e4_failures_below_threshold_continue_and_escalate(engine: Engine, tmp_path: Path) -> None:
    w, cid = _wave_run(engine, tmp_path, threshold=0.5)
    assert w.sim is not None
    states = [s for s, _ in _targets(engine, cid).values()]
    assert states.count("done") == 10 and states.count("failed") == 3
    change = w.ops.journal.get(cid)
    assert change.state == "escalated"
    assert "below the halt threshold" in str(change.result)
    assert w.sim.effects("identity", "disable_user") == 10


def test_e6_auth_failure_not_retried_alerts_and_holds_the_integration(
    engine: Engine, tmp_path: Path
) -> None:
    tick = [0.0]
    w = build(engine, tmp_path, monotonic=lambda: tick[0], estate=_users(2))
    assert w.sim is not None
    rule = w.sim.faults.add(FaultRule(category="identity", kind="auth", status=403))
    first = enqueue(w, "identity.disable", ["user-00"])
    second = enqueue(w, "identity.disable", ["user-01"])
    other = enqueue(w, "service.restart", ["contoso-dev-app"])
    w.ops.drain()
    assert len(w.sim.calls.filter(category="identity", method="disable_user")) == 1  # no storm
    assert w.ops.journal.get(first.id).state == "escalated"
    assert "not authorised" in str(w.ops.journal.get(first.id).result)
    assert "HTTP 403" in str(w.ops.journal.get(first.id).result)
    [alert] = w.audit.query(kind="integration.auth_failed")
    assert alert.body["integration"] == "sim-identity" and "operators" in alert.body["alert"]
    assert w.ops.journal.get(second.id).state == "queued"  # kept, not failed
    assert w.ops.journal.get(other.id).state == "reconciled"  # other integrations carry on
    w.sim.faults.remove(rule)
    tick[0] += HoldPolicy().auth_hold + 1
    w.ops.drain()
    assert w.ops.journal.get(second.id).state == "reconciled"


def test_e7_integration_down_opens_circuit_keeps_queue_and_resumes(
    engine: Engine, tmp_path: Path
) -> None:
    tick = [0.0]
    w = build(engine, tmp_path, monotonic=lambda: tick[0])
    assert w.sim is not None
    down = w.sim.faults.add(FaultRule(category="rmm", kind="error"))
    restarts = [enqueue(w, "service.restart", ["contoso-dev-app"]) for _ in range(3)]
    disable = enqueue(w, "identity.disable", ["jdoe"])
    w.ops.drain()
    assert w.executor.breaker("rmm").state == "open"
    # The first gave up after 3 tries, the second after 2 (its failures opened the circuit);
    # the third was never sent and is kept in the queue.
    assert [w.ops.journal.get(c.id).state for c in restarts[:2]] == ["escalated"] * 2
    assert "circuit open" in str(w.ops.journal.get(restarts[1].id).result)
    assert w.ops.journal.get(restarts[2].id).state == "queued"
    assert w.ops.journal.get(disable.id).state == "reconciled"  # identity unaffected
    sent = len(w.sim.calls.filter(method="run_script"))
    assert sent == 5  # the circuit opened at 5 failures: nothing more was sent
    assert w.ops.drain() == []  # while open, the queue is kept as it is
    w.sim.faults.remove(down)
    tick[0] += HoldPolicy().circuit_hold + 1
    w.ops.drain()
    assert w.ops.journal.get(restarts[2].id).state == "reconciled"
    assert w.sim.effects("rmm", "run_script") == 1


class _OpenRmm:
    """An RMM client whose own circuit breaker is open (nothing is sent)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.open = True

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def run_script(self, *a: object, **kw: object) -> object:
        if self.open:
            raise CircuitOpen(
                "circuit open after repeated failures; retry in 30s",
                integration="rmm-vendor",
                call="run_script",
            )
        return self._inner.run_script(*a, **kw)  # type: ignore[attr-defined]


def test_e7_adapter_circuit_open_hands_the_change_back_untouched(
    engine: Engine, tmp_path: Path
) -> None:
    ents, rels = small_estate()
    sim = sim_for(ents, rels)
    rmm = _OpenRmm(sim.rmm)
    tick = [0.0]
    w = build(
        engine,
        tmp_path,
        adapters=Adapters(**{**sim_adapters(sim).__dict__, "rmm": rmm}),
        monotonic=lambda: tick[0],
    )
    c = enqueue(w, "service.restart", ["contoso-dev-app"])
    [report] = w.ops.drain()
    assert report.final_state == "queued" and "circuit open" in report.message
    assert _targets(engine, c.id)["service:contoso-dev-app"][0] == "pending"
    with engine.connect() as conn:
        assert conn.execute(select(call_table.c.outcome)).scalar_one() == "not_sent"
    assert w.ops.drain() == []  # held while the client's circuit is open
    rmm.open = False
    tick[0] += HoldPolicy().circuit_hold + 1
    w.ops.drain()
    assert w.ops.journal.get(c.id).state == "reconciled"
    assert sim.effects("rmm", "run_script") == 1
