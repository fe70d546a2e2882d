"""Guard rails on autonomy: rate limit, circuit breaker, freeze, break-glass, consent expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from adapters.sim import FaultRule
from agent.approval import Guardrails
from tests.agent.ops_world import ANA, BEN, CHLOE, DAN, make_world
from twin.model import utcnow

ALWAYS_AUTO = """
version: 1
defaults: {decision: consent, approvers: approvers, quorum: 1, expires_in: 1h}
rules:
  - id: restarts-run
    when: input.action == "service.restart"
    decision: auto
    reason: Restarts always run by themselves in this test.
"""


def test_rate_limit_moves_auto_to_consent(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path, guardrails=Guardrails(max_auto_per_hour=2))
    first = [w.request("service.restart", ["contoso-dev-app"]).status for _ in range(2)]
    third = w.request("service.restart", ["contoso-dev-app"])
    assert first == ["auto", "auto"]
    assert third.status == "consent"
    assert "autonomy-rate-limit" in third.decision.matched
    assert "in the last hour" in third.decision.reasons["autonomy-rate-limit"]


def test_per_action_rate_limit(engine: Engine, tmp_path: Path) -> None:
    w = make_world(
        engine, tmp_path, guardrails=Guardrails(max_auto_per_hour_by_action={"service.restart": 1})
    )
    assert w.request("service.restart", ["contoso-dev-app"]).status == "auto"
    assert w.request("service.restart", ["contoso-dev-app"]).status == "consent"


def test_guards_read_the_facades_clock_at_each_call(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    assert w.request("service.restart", ["contoso-dev-app"]).status == "auto"
    assert w.ops.guards.status()["auto_last_hour"] == 1
    later = w.ops.now() + timedelta(hours=2)
    w.ops.now = lambda: later  # the facade's clock moves; the guards must follow it
    assert w.ops.guards.status()["auto_last_hour"] == 0
    assert w.ops.autonomy_status() == w.ops.guards.status()


def test_failure_spike_opens_breaker_until_admin_resets(engine: Engine, tmp_path: Path) -> None:
    # a policy that would always run restarts by itself: only the breaker can stop it
    w = make_world(
        engine, tmp_path, guardrails=Guardrails(breaker_failures=2), policy_text=ALWAYS_AUTO
    )
    w.sim.faults.add(FaultRule(category="rmm", call="run_script", kind="error"))
    for _ in range(2):
        assert w.request("service.restart", ["contoso-dev-app"]).status == "auto"
        w.ops.drain()
    assert w.ops.guards.breaker_open()
    paused = w.request("service.restart", ["contoso-dev-app"])
    assert paused.status == "consent" and "autonomy-breaker" in paused.decision.matched
    assert "Only opshand admins" in w.ops.guards.reset_breaker(actor=ANA)
    assert "reset" in w.ops.guards.reset_breaker(actor=BEN)
    assert not w.ops.guards.breaker_open()
    assert w.request("service.restart", ["contoso-dev-app"]).status == "auto"


def test_b8_break_glass_needs_permission_reason_and_is_loud(engine: Engine, tmp_path: Path) -> None:
    w = make_world(engine, tmp_path)
    w.ops.set_freeze(True, actor=BEN, reason="incident review")
    frozen = w.request("service.restart", ["contoso-dev-app"])
    assert frozen.status == "deny"
    no_perm = w.request(
        "service.restart",
        ["contoso-dev-app"],
        requester=ANA,
        break_glass="the ERP is down and customers cannot order",
    )
    assert no_perm.status == "error" and "permission" in no_perm.message
    no_reason = w.request("service.restart", ["contoso-dev-app"], requester=DAN, break_glass="now")
    assert no_reason.status == "error" and "reason" in no_reason.message
    ok = w.request(
        "service.restart",
        ["contoso-dev-app"],
        requester=DAN,
        break_glass="the ERP is down and customers cannot order",
    )
    assert ok.status in ("auto", "consent")
    kinds = [r.kind for r in w.audit.query(kind="breakglass.*", limit=10)]
    assert kinds.count("breakglass.refused") == 2 and kinds.count("breakglass.used") == 1


def test_consent_expires_and_late_votes_change_nothing(engine: Engine, tmp_path: Path) -> None:
    clock = {"now": utcnow()}
    w = make_world(engine, tmp_path, now=lambda: clock["now"])
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    cid = res.change.id
    clock["now"] = clock["now"] + timedelta(hours=2)
    w.ops.consent._clock = lambda: clock["now"]  # the book shares the test clock
    expired = w.ops.expire_consents()
    assert [c.id for c in expired] == [cid]
    assert w.ops.journal.get(cid).state == "expired"
    late = w.ops.vote(cid, CHLOE, True, plan_hash=res.plan.hash, payload_id="late")
    assert not late.accepted
    assert w.ops.journal.get(cid).state == "expired"
    w.ops.drain()
    assert w.sim.effects("rmm", "reboot") == 0


def test_b2_policy_change_after_vote_makes_consent_stale(engine: Engine, tmp_path: Path) -> None:
    from agent.policy import load_policy_text

    w = make_world(engine, tmp_path)
    res = w.request("host.reboot", ["contoso-ny-web-02"])
    w.ops.vote(res.change.id, CHLOE, True, plan_hash=res.plan.hash, payload_id="v1")
    # the operator edits the policy before the worker runs: earlier votes no longer count
    text = (Path(__file__).resolve().parents[2] / "examples" / "policy.yaml").read_text()
    w.ops.policy = load_policy_text(text.replace("quorum: 1", "quorum: 2", 1))
    reports = w.ops.drain()
    assert reports[0].final_state == "escalated"
    assert w.sim.effects("rmm", "reboot") == 0


def test_guard_clock_is_timezone_aware() -> None:
    assert isinstance(utcnow(), datetime) and utcnow().tzinfo is not None
