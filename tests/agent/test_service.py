"""The deterministic core: propose, rehearse, decide, consent or queue, execute, reconcile."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.agent.ops_world import ANA, BEN, CHLOE, make_world


def test_auto_change_executes_once_and_reconciles(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("service.restart", ["contoso-dev-app"])
    assert res.status == "auto", res.message
    assert res.change is not None and w.ops.journal.get(res.change.id).state == "queued"
    reports = w.ops.drain()
    assert [r.final_state for r in reports] == ["reconciled"]
    assert w.sim.effects("rmm", "run_script") == 1
    assert w.ops.drain() == []  # nothing runs twice
    assert w.sim.effects("rmm", "run_script") == 1
    assert w.audit.verify().ok


def test_consent_change_waits_then_runs_on_quorum(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    assert res.status == "consent"
    cid = res.change.id  # type: ignore[union-attr]
    assert w.ops.drain() == []
    assert w.sim.effects("rmm", "reboot") == 0
    out = w.ops.vote(cid, BEN, True, plan_hash=res.plan.hash, payload_id="p1")  # type: ignore[union-attr]
    assert out.accepted
    reports = w.ops.drain()
    assert reports[0].final_state == "reconciled"
    assert w.sim.effects("rmm", "reboot") == 1
    # the observation flowed back into the twin with provenance naming the change
    host = w.ops.graph.get("host:contoso-ny-web-02")
    assert host.attrs.get("pending_reboot") is False
    assert host.version == 2


def test_b1_self_approval_refused_and_audited(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"], requester=BEN)
    out = w.ops.vote(res.change.id, BEN, True, plan_hash=res.plan.hash, payload_id="p1")  # type: ignore[union-attr]
    assert not out.accepted and "yourself" in out.message
    assert w.ops.journal.get(res.change.id).state == "awaiting_consent"  # type: ignore[union-attr]
    kinds = [r.kind for r in w.audit.query(change_id=str(res.change.id), limit=50)]  # type: ignore[union-attr]
    assert "consent.refused" in kinds


def test_b4_double_click_counts_once(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    h = res.plan.hash  # type: ignore[union-attr]
    cid = res.change.id  # type: ignore[union-attr]
    first = w.ops.vote(cid, CHLOE, True, plan_hash=h, payload_id="click-1")
    again = w.ops.vote(cid, CHLOE, True, plan_hash=h, payload_id="click-1")
    assert first.accepted and not again.accepted
    w.ops.drain()
    assert w.sim.effects("rmm", "reboot") == 1


def test_deny_rule_refuses_with_reason(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("identity.disable", ["breakglass-contoso"])
    assert res.status == "deny"
    assert "Break-glass accounts are never disabled" in res.message
    assert w.ops.journal.get(res.change.id).state == "denied"  # type: ignore[union-attr]
    w.ops.drain()
    assert w.sim.effects("identity", "disable_user") == 0


def test_invariant_deny_blocks_quorum_loss(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-db-01"])
    assert res.status == "deny"
    assert "invariant-deny" in res.decision.matched  # type: ignore[union-attr]


def test_unknown_target_names_what_is_close(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-09"])
    assert res.status == "error"
    assert "contoso-ny-web-0" in res.message


def test_a4_plan_edited_after_approval_is_refused(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import update

    from agent.execution import journal_table

    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    cid = res.change.id  # type: ignore[union-attr]
    w.ops.vote(cid, CHLOE, True, plan_hash=res.plan.hash, payload_id="p")  # type: ignore[union-attr]
    plan = dict(res.change.plan or w.ops.journal.get(cid).plan)  # type: ignore[union-attr, arg-type]
    plan["targets"] = ["host:contoso-ny-web-03"]
    with engine.begin() as conn:
        conn.execute(update(journal_table).where(journal_table.c.id == cid).values(plan=plan))
    reports = w.ops.drain()
    assert reports[0].final_state == "escalated"
    assert "hash" in reports[0].message or "hash" in str(w.ops.journal.get(cid).result)
    assert w.sim.effects("rmm", "reboot") == 0


def test_twin_drift_makes_queued_plan_stale_and_rehearses_again(
    engine: Engine, tmp_path: Path
) -> None:
    from agent.service import ChangeEvent

    w = make_world(engine, tmp_path)
    events: list[ChangeEvent] = []
    w.ops.subscribers.append(events.append)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    cid = res.change.id  # type: ignore[union-attr]
    w.ops.vote(cid, CHLOE, True, plan_hash=res.plan.hash, payload_id="p")  # type: ignore[union-attr]
    w.ops.store.set_attrs(
        "host:contoso-ny-web-02",
        {"env": "staging"},
        actor="drift",
        reason="changed outside opshand",
    )
    reports = w.ops.drain()
    assert reports[0].final_state == "escalated"
    assert "changed since rehearsal" in str(w.ops.journal.get(cid).result)
    assert w.sim.effects("rmm", "reboot") == 0
    stale = [e for e in events if e.kind == "stale"]
    assert len(stale) == 1
    replacement = stale[0].detail["replacement"]
    assert replacement.supersedes == cid
    assert replacement.plan_hash != res.plan.hash  # type: ignore[union-attr]
    # the earlier approval does not carry over: the new plan asks again
    assert w.ops.journal.get(replacement.id).state == "awaiting_consent"
    assert any("host:contoso-ny-web-02" in line for line in stale[0].detail["diff"])


def test_b5_approver_losing_role_fails_closed(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    cid = res.change.id  # type: ignore[union-attr]
    w.ops.vote(cid, CHLOE, True, plan_hash=res.plan.hash, payload_id="p")  # type: ignore[union-attr]
    w.roles.update({"approvers": ["U0BEN"], "admins": ["U0BEN"]})
    reports = w.ops.drain()
    assert reports[0].final_state == "escalated"
    assert w.sim.effects("rmm", "reboot") == 0


def test_freeze_denies_new_changes(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    assert "Only opshand admins" in w.ops.set_freeze(True, actor=ANA)
    assert "freeze is on" in w.ops.set_freeze(True, actor=BEN, reason="quarter end")
    res = w.request("service.restart", ["contoso-dev-app"])
    assert res.status == "deny" and "change-freeze" in res.decision.matched  # type: ignore[union-attr]


def test_subscribers_hear_a_change_start_before_it_finishes(engine: Engine, tmp_path: Path) -> None:
    from agent.service import ChangeEvent

    w = make_world(engine, tmp_path)
    events: list[ChangeEvent] = []
    w.ops.subscribers.append(events.append)
    res = w.request("service.restart", ["contoso-dev-app"])
    assert res.change is not None
    w.ops.drain()
    kinds = [e.kind for e in events if e.change.id == res.change.id]
    assert kinds.index("started") < kinds.index("finished")
    started = next(e for e in events if e.kind == "started")
    assert started.change.state == "executing"  # claimed: the card can say "Running"
