"""B10: a change resumed after an outage is checked again before every wave and every call.

The outage is the RMM client's own circuit breaker opening before the second wave's reboot: the
executor hands the change back to the queue with the first host rebooted and the second pending.
While it waits, a freeze is set or an approver loses the role; when the integration is back, the
change must not reboot the second host, and it says why.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, update

from adapters.errors import CircuitOpen
from agent.execution import Adapters, HoldPolicy, journal_table, target_table
from agent.service import ChangeEvent, ChangeRequest
from tests.agent.execution.harness import (
    ANA,
    BEN,
    TEAM,
    World,
    build,
    enqueue,
    sim_adapters,
    sim_for,
)
from tests.estate import small_estate

WEB1, WEB2 = "host:contoso-ny-web-01", "host:contoso-ny-web-02"
ROLES = {"approvers": ["U0BEN", "U0CHLOE"], "admins": ["U0BEN"]}


class _FlakyRmm:
    """An RMM client whose circuit opens after ``ok`` reboots (nothing more is sent)."""

    def __init__(self, inner: object, ok: int) -> None:
        self._inner = inner
        self.ok = ok
        self.down = True

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def reboot(self, *a: object, **kw: object) -> object:
        if self.ok <= 0 and self.down:
            raise CircuitOpen(
                "circuit open after repeated failures; retry in 30s",
                integration="rmm-vendor",
                call="reboot",
            )
        self.ok -= 1
        return self._inner.reboot(*a, **kw)  # type: ignore[attr-defined]


def _world(engine: Engine, tmp: Path) -> tuple[World, _FlakyRmm, list[float], list[ChangeEvent]]:
    ents, rels = small_estate()
    sim = sim_for(ents, rels)
    rmm = _FlakyRmm(sim.rmm, ok=1)
    tick = [0.0]
    w = build(
        engine,
        tmp,
        sim=sim,
        adapters=Adapters(**{**sim_adapters(sim).__dict__, "rmm": rmm}),
        monotonic=lambda: tick[0],
    )
    events: list[ChangeEvent] = []
    w.ops.subscribers.append(events.append)
    return w, rmm, tick, events


def _two_wave_reboot(w: World) -> int:
    """A consented two-wave reboot of web-01 then web-02, stalled by the outage after wave 1."""
    res = w.ops.propose(
        ChangeRequest(
            action="host.reboot",
            targets=["contoso-ny-web-01", "contoso-ny-web-02"],
            params={},
            reason="kernel update",
            requester=ANA,
            channel="C0OPS",
            thread_ts="1700000000.000100",
        )
    )
    assert res.status == "consent" and res.change is not None and res.plan is not None
    assert res.plan.waves == [[WEB1], [WEB2]]
    out = w.ops.vote(res.change.id, BEN, True, plan_hash=res.plan.hash, payload_id="p1")
    assert out.accepted, out.message
    [report] = w.ops.drain()
    assert report.final_state == "queued" and "circuit open" in report.message
    return res.change.id


def _targets(engine: Engine, cid: int) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(target_table).where(target_table.c.change_id == cid))
        return {r.target: (r.state, r.detail) for r in rows}


def _resume(w: World, rmm: _FlakyRmm, tick: list[float]) -> None:
    rmm.down = False
    tick[0] += HoldPolicy().circuit_hold + 1
    w.ops.drain()


def _assert_stopped_before_wave_2(
    w: World, engine: Engine, cid: int, events: list[ChangeEvent], why: str
) -> None:
    assert w.sim is not None
    assert w.sim.effects("rmm", "reboot") == 1  # web-01 only: web-02 was never rebooted
    assert [c.target for c in w.sim.calls.filter(method="reboot") if c.outcome == "ok"] == [
        c.target for c in w.sim.calls.filter(method="reboot")
    ]
    targets = _targets(engine, cid)
    assert targets[WEB1][0] == "done"
    assert targets[WEB2][0] == "skipped" and why in targets[WEB2][1]
    change = w.ops.journal.get(cid)
    assert change.state == "escalated"
    result = change.result or {}
    assert result["refusal"]["before_any_call"] is False
    message = str(result["message"])
    assert message.startswith("stopped before wave 2 of 2") and why in message, message
    # The thread is told why: the finished event carries the change and its message.
    finished = [e for e in events if e.kind == "finished" and e.change.id == cid][-1]
    assert finished.change.thread_ts == "1700000000.000100"
    assert why in str((finished.change.result or {}).get("message"))
    kinds = [r.kind for r in w.audit.query(change_id=str(cid), limit=200)]
    assert kinds.count("change.executing") == 2 and "change.escalated" in kinds
    assert w.audit.verify().ok


def test_b10_resumed_reboot_with_freeze_set_between_waves_does_not_reboot_second_host(
    engine: Engine, tmp_path: Path
) -> None:
    w, rmm, tick, events = _world(engine, tmp_path)
    cid = _two_wave_reboot(w)
    assert _targets(engine, cid)[WEB2][0] == "pending"
    assert "Change freeze is on" in w.ops.set_freeze(True, actor=BEN, reason="quarter end")
    _resume(w, rmm, tick)
    _assert_stopped_before_wave_2(w, engine, cid, events, "a change freeze is in force")
    assert (w.ops.journal.get(cid).result or {})["refusal"]["check"] == "freeze"


def test_b10_resumed_reboot_with_approver_role_removed_does_not_reboot_second_host(
    engine: Engine, tmp_path: Path
) -> None:
    w, rmm, tick, events = _world(engine, tmp_path)
    cid = _two_wave_reboot(w)
    w.roles.update({"approvers": ["U0CHLOE"], "admins": ["U0BEN"]})  # Ben left the team
    _resume(w, rmm, tick)
    _assert_stopped_before_wave_2(
        w, engine, cid, events, f"{TEAM}:U0BEN no longer holds the 'approvers' role"
    )
    assert (w.ops.journal.get(cid).result or {})["refusal"]["check"] == "consent"


def test_b10_resumed_reboot_runs_on_when_nothing_changed(engine: Engine, tmp_path: Path) -> None:
    """The friend of the two above: the checks do not stop a change that is still allowed."""
    w, rmm, tick, _ = _world(engine, tmp_path)
    cid = _two_wave_reboot(w)
    _resume(w, rmm, tick)
    assert w.ops.journal.get(cid).state == "reconciled"
    assert w.sim is not None and w.sim.effects("rmm", "reboot") == 2


def test_b10_freeze_set_between_two_calls_of_one_wave_stops_the_second(
    engine: Engine, tmp_path: Path
) -> None:
    """Checked before every call, not only every wave."""
    box: list[World] = []
    seen: list[str] = []

    def hook(step: str) -> None:
        seen.append(step)
        if step == "call_recorded" and seen.count("call_recorded") == 2:
            box[0].ops.set_freeze(True, actor=BEN, reason="incident")

    w = build(engine, tmp_path, step_hook=hook)
    box.append(w)
    hosts = ["contoso-ny-web-01", "contoso-ny-web-02", "contoso-ny-web-03"]
    c = enqueue(w, "host.reboot", hosts, wave_percent=100)
    waves = (c.plan or {})["waves"]
    assert [len(wave) for wave in waves] == [1, 2]  # a canary, then one wave of two calls
    [report] = w.ops.drain()
    assert report.final_state == "escalated"
    assert report.refusal is not None and report.refusal.check == "freeze"
    assert w.sim is not None and w.sim.effects("rmm", "reboot") == 2
    targets = _targets(engine, c.id)
    assert targets[waves[1][1]][0] == "skipped"
    assert sorted(s for s, _ in targets.values()) == ["done", "done", "skipped"]


def test_b10_plan_hash_changed_in_the_journal_mid_way_stops(engine: Engine, tmp_path: Path) -> None:
    w, rmm, tick, _ = _world(engine, tmp_path)
    cid = _two_wave_reboot(w)
    with engine.begin() as conn:
        conn.execute(
            update(journal_table).where(journal_table.c.id == cid).values(plan_hash="0" * 64)
        )
    _resume(w, rmm, tick)
    change = w.ops.journal.get(cid)
    assert change.state == "escalated"
    assert (change.result or {})["refusal"]["check"] == "plan_hash"
    assert w.sim is not None and w.sim.effects("rmm", "reboot") == 1


def test_b10_break_glass_change_runs_during_the_freeze(engine: Engine, tmp_path: Path) -> None:
    """Policy lets break-glass through a freeze; the checks before each call do too."""
    w = build(engine, tmp_path)
    w.roles.update({**ROLES, "breakglass": ["U0ANA"]})
    w.ops.set_freeze(True, actor=BEN, reason="quarter end")
    res = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="portal down",
            requester=ANA,
            break_glass="the client portal is down for every user",
        )
    )
    assert res.status == "auto" and res.change is not None, res.message
    [report] = w.ops.drain()
    assert report.final_state == "reconciled", report.message
    assert w.sim is not None and w.sim.effects("rmm", "run_script") == 1
    [used] = w.audit.query(kind="breakglass.used")
    assert used.change_id == str(res.change.id)


def test_b10_break_glass_permission_removed_before_it_runs_stops_it(
    engine: Engine, tmp_path: Path
) -> None:
    w = build(engine, tmp_path)
    w.roles.update({**ROLES, "breakglass": ["U0ANA"]})
    w.ops.set_freeze(True, actor=BEN, reason="quarter end")
    res = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="portal down",
            requester=ANA,
            break_glass="the client portal is down for every user",
        )
    )
    assert res.status == "auto" and res.change is not None
    w.roles.update(ROLES)
    [report] = w.ops.drain()
    assert report.final_state == "escalated"
    assert report.refusal is not None and report.refusal.check == "breakglass"
    assert w.sim is not None and w.sim.effects("rmm", "run_script") == 0
