"""Break-glass from Slack during a freeze, end to end through the production HTTP app.

An admin sets the freeze; a person holding the breakglass permission asks, with a reason, for one
exact change. It is announced in the channel (its thread carries the decision and the result)
and in the approvals channel, policy lets it through the freeze, the executor's checks before
every call let it through too, it runs, and the audit names the change and the reason. Someone
without the permission is refused, loudly in the audit and quietly in Slack, and nothing runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.world import ANA, BEN, CHLOE, World, card_of, slack_world, texts, wait_text

PORTAL = "service:contoso-portal"
REASON = "the client portal is down for every customer"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path, request.param) as w:
        roles = w.oh.ops.roles
        roles.update({**roles.data, "breakglass": [ANA]})
        yield w


def _freeze(w: World) -> None:
    assert w.slack.slash(BEN, "ops", "/opshand", "freeze quarter-end close") == 200
    wait_text(w, "ops", "Change freeze is on")
    assert w.oh.ops.guards.flag("freeze") is not None


def test_b8_break_glass_during_a_freeze_runs_is_announced_and_audited(world: World) -> None:
    w = world
    assert w.oh.sim is not None
    before = w.oh.sim.effects("rmm", "run_script")
    _freeze(w)
    text = f"breakglass {REASON} -- service.restart contoso-portal"
    assert w.slack.slash(ANA, "ops", "/opshand", text) == 200
    # Announced in the channel it was asked in; the change's thread starts there.
    announced = w.slack.wait_for(
        lambda: [
            m for m in w.slack.messages("ops") if m.get("bot_id") and "Break-glass by" in texts([m])
        ],
        timeout=20,
    )[0]
    body = texts([announced])
    assert f"<@{ANA}>" in body and REASON in body and "service.restart" in body
    thread = announced["ts"]
    decided = wait_text(w, "ops", "CR-", thread_ts=thread)
    change = w.oh.ops.journal.list(limit=10)[0]
    assert change.action == "service.restart" and change.targets == [PORTAL]
    assert change.thread_ts == thread and change.ref in decided
    if change.state == "awaiting_consent":  # policy may still ask for consent: Ben gives it
        card = card_of(w, change.ref)
        w.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve")
    # The result follows in the thread, while the freeze is still on.
    wait_text(w, "ops", f"{change.ref} reconciled", thread_ts=thread, timeout=30)
    assert w.oh.ops.guards.flag("freeze") is not None
    sent = [
        c
        for c in w.oh.sim.calls.filter(method="run_script")
        if f":{change.ref}:"
        in f":{c.idempotency_key or ''}"  # <installation>:CR-n:<nonce>:<target>
    ]
    assert sent and {c.outcome for c in sent} == {"ok"}  # it ran, during the freeze
    assert w.oh.sim.effects("rmm", "run_script") > before
    # Loud in the approvals channel too.
    wait_text(w, "ops-approvals", f"Break-glass used by <@{ANA}> for {change.ref}")
    # The audit names the change, who and why.
    [used] = w.oh.audit.query(kind="breakglass.used")
    assert used.change_id == str(change.id)
    assert used.actor.endswith(ANA) and used.body["reason"] == REASON
    kinds = [r.kind for r in w.oh.audit.query(change_id=str(change.id), limit=200)]
    assert "change.reconciled" in kinds
    assert w.oh.audit.verify().ok


def test_b8_break_glass_without_the_permission_is_refused_and_nothing_runs(world: World) -> None:
    w = world
    assert w.oh.sim is not None
    before = w.oh.sim.effects("rmm", "run_script")
    _freeze(w)
    text = f"breakglass {REASON} -- service.restart contoso-portal"
    assert w.slack.slash(CHLOE, "ops", "/opshand", text) == 200
    refusal = w.slack.wait_for(
        lambda: [e for e in w.slack.ephemerals(CHLOE) if "breakglass permission" in e["text"]],
        timeout=20,
    )
    assert refusal
    assert not [m for m in w.slack.messages("ops") if "Break-glass by" in texts([m])]
    assert w.oh.ops.journal.list(limit=10) == []
    [refused] = w.oh.audit.query(kind="breakglass.refused")
    assert refused.actor.endswith(CHLOE) and refused.body["reason"] == REASON
    assert w.oh.sim.effects("rmm", "run_script") == before


def test_break_glass_names_targets_exactly(world: World) -> None:
    """No fuzzy match under break-glass: a near miss is refused with the name meant."""
    w = world
    _freeze(w)
    text = f"breakglass {REASON} -- service.restart contoso-portl"
    assert w.slack.slash(ANA, "ops", "/opshand", text) == 200
    w.slack.wait_for(
        lambda: [e for e in w.slack.ephemerals(ANA) if "contoso-portal" in e["text"]],
        timeout=20,
    )
    assert w.oh.ops.journal.list(limit=10) == []
