"""Scheduled changes (G4): stored not_before, wait, restart, drift at start, cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from agent.chat.offline.when import parse_when
from agent.execution import IllegalTransition
from agent.service import ChangeRequest
from tests.agent.ops_world import ANA, BEN, make_world
from twin.ingest import IngestBatch

T0 = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # Thu 08:00 in New York


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _ask(w, action: str, target: str, text: str, clock: Clock):  # type: ignore[no-untyped-def]
    when = parse_when(text, now=clock(), tz="America/New_York")
    return w.ops.propose(
        ChangeRequest(
            action=action,
            targets=[target],
            params={},
            reason=text,
            requester=ANA,
            not_before=when.not_before,
        )
    )


def test_tonight_is_stored_and_the_change_waits_until_then(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app tonight", clock)
    assert res.status == "auto", res.message
    change = w.ops.journal.get(res.change.id)
    assert change.not_before == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # 22:00 EST
    assert change.state == "scheduled"
    assert "scheduled time" in res.message
    assert w.ops.drain() == []  # not before its time
    clock.at = datetime(2026, 12, 4, 2, 59, tzinfo=UTC)
    assert w.ops.drain() == []
    assert w.sim.effects("rmm", "run_script") == 0
    clock.at = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    reports = w.ops.drain()
    assert [r.final_state for r in reports] == ["reconciled"], reports[0].message
    assert w.sim.effects("rmm", "run_script") == 1
    kinds = [r.kind for r in w.audit.query(change_id=str(res.change.id), limit=50)]
    assert "change.scheduled" in kinds and "change.queued" in kinds
    assert w.audit.verify().ok


def test_a_change_without_a_time_still_queues_at_once(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app now", clock)
    assert w.ops.journal.get(res.change.id).state == "queued"
    assert w.ops.journal.get(res.change.id).not_before is None


def test_consented_change_waits_for_its_time(engine: Engine, tmp_path: Path) -> None:
    # Days in the past: the sim stamps boot times with the real clock, which reconciliation
    # compares with the (injected) time the reboot was sent.
    clock = Clock(T0 - timedelta(days=2))
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "host.reboot", "contoso-ny-web-02", "reboot contoso-ny-web-02 at 02:00", clock)
    assert res.status == "consent"
    out = w.ops.vote(res.change.id, BEN, True, plan_hash=res.plan.hash, payload_id="p1")
    assert out.accepted
    assert w.ops.journal.get(res.change.id).state == "scheduled"
    assert w.ops.drain() == []
    assert w.sim.effects("rmm", "reboot") == 0
    assert w.ops.journal.get(res.change.id).not_before == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    clock.at = datetime(2026, 12, 2, 7, 1, tzinfo=UTC)  # 02:01 EST
    reports = w.ops.drain()
    assert [r.final_state for r in reports] == ["reconciled"], reports[0].message
    assert w.sim.effects("rmm", "reboot") == 1


def test_survives_a_restart(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path / "a", now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app at 21:00", clock)
    assert w.ops.journal.get(res.change.id).state == "scheduled"
    del w  # the process ends; a new one starts on the same database
    clock.at = T0 + timedelta(hours=13)
    w2 = make_world(engine, tmp_path / "b", now=clock)
    assert [c.id for c in w2.ops.scheduled()] == [res.change.id]
    reports = w2.ops.drain()
    assert [(r.change_id, r.final_state) for r in reports] == [(res.change.id, "reconciled")]


def test_drift_at_start_goes_back_to_consent_with_the_difference(
    engine: Engine, tmp_path: Path
) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app tonight", clock)
    assert w.ops.journal.get(res.change.id).state == "scheduled"
    target = res.plan.targets[0]
    ent = w.ops.graph.get(target)
    w.ops.store.apply(
        IngestBatch(
            source="test",
            entities=[{**ent.model_dump(mode="json"), "attrs": {**ent.attrs, "note": "moved"}}],
        )
    )
    events = []
    w.ops.subscribers.append(events.append)
    clock.at = datetime(2026, 12, 4, 3, 5, tzinfo=UTC)
    assert w.ops.drain() == []
    change = w.ops.journal.get(res.change.id)
    assert change.state == "awaiting_consent"
    assert change.plan_hash != res.plan.hash
    assert change.decision and change.decision["drift"]
    assert w.sim.effects("rmm", "run_script") == 0
    [ev] = [e for e in events if e.kind == "decided"]
    assert ev.detail["outcome"] == "consent" and ev.detail["drift"]
    assert ev.detail["consent_request"] is not None


def test_cancel_is_audited_and_the_change_never_runs(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app tonight", clock)
    done = w.ops.cancel(res.change.ref, BEN, "not tonight")
    assert done.state == "stale" and done.result and done.result["cancelled"]
    clock.at = T0 + timedelta(days=1)
    assert w.ops.drain() == []
    assert w.sim.effects("rmm", "run_script") == 0
    rows = [r for r in w.audit.query(change_id=str(res.change.id), limit=50)]
    assert any(r.kind == "change.stale" and r.actor == BEN for r in rows)
    with pytest.raises(IllegalTransition, match="only a scheduled change"):
        w.ops.cancel(res.change.ref, BEN)


def test_naive_not_before_is_refused(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path, now=Clock(T0))
    res = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="x",
            requester=ANA,
            not_before=datetime(2026, 12, 4, 3, 0),
        )
    )
    assert res.status == "error" and "time zone" in res.message


def test_offline_model_fills_not_before_and_window() -> None:
    from agent.chat.offline import parse
    from tests.agent.offline.estate import make_resolver

    resolver = make_resolver()
    [call] = parse("reboot web-02 tonight", resolver, now=T0, tz="America/New_York").tool_calls
    assert call.args["not_before"] == "2026-12-04T03:00:00+00:00"
    [call] = parse(
        "reboot web-02 in the next maintenance window", resolver, now=T0, tz="America/New_York"
    ).tool_calls
    assert call.args["window"] == "next" and "not_before" not in call.args
    [call] = parse("reboot web-02 now", resolver, now=T0).tool_calls
    assert "not_before" not in call.args and "window" not in call.args
    bad = parse("reboot web-02 at 25:00", resolver, now=T0)
    assert not bad.tool_calls and "25:00" in (bad.clarification or "")


def test_propose_change_tool_stores_not_before(engine: Engine, tmp_path: Path) -> None:
    from agent.chat import ToolBox, TurnContext

    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    text = "restart contoso-dev-app tonight"
    box = ToolBox(w.ops, TurnContext(requester=ANA, request_text=text))
    out = box.call(
        "propose_change",
        {
            "action": "service.restart",
            "targets": ["contoso-dev-app"],
            "not_before": "2026-12-03T22:00:00-05:00",
        },
    )
    assert out["status"] == "success", out
    assert out["data"]["scheduled"] is True
    [change] = w.ops.scheduled()
    assert change.not_before == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    naive = box.call(
        "propose_change",
        {"action": "service.restart", "targets": ["contoso-dev-app"], "not_before": "22:00"},
    )
    assert naive["status"] == "error" and "not_before" in naive["error"]


def test_only_the_requester_or_an_approver_may_cancel(engine: Engine, tmp_path: Path) -> None:
    from tests.agent.ops_world import TEAM

    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app tonight", clock)
    with pytest.raises(PermissionError, match="requester"):
        w.ops.cancel(res.change.ref, f"{TEAM}:U0NOBODY")
    assert w.ops.journal.get(res.change.id).state == "scheduled"
    assert w.ops.cancel(res.change.ref, ANA).state == "stale"  # the requester may


def test_the_thread_says_when_it_runs_in_the_readers_zone(engine: Engine, tmp_path: Path) -> None:
    from bot.blocks import decision_blocks

    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    res = _ask(w, "service.restart", "contoso-dev-app", "restart contoso-dev-app tonight", clock)
    blocks = decision_blocks(w.ops.journal.get(res.change.id), tz="America/New_York", now=T0)
    text = str(blocks)
    assert "runs Thu 22:00 EST, in 14 h" in text and "runs now" not in text
    assert "/opshand cancel" in text
