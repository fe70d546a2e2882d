"""Consent cards for their whole life: header, colour and icon per state, who decided and when,
the quorum line after each vote, the actions row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.cards import LOOKS, CardState, card_status, consent_actions, consent_card
from bot.localslack.blockkit import check_view
from bot.plan_view import plan_view
from tests.bot.test_blocks import _change, _text

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # a Thursday
OPEN = CardState(
    state="open",
    votes=[],
    quorum=2,
    approvers="approvers",
    expires_at=NOW + timedelta(hours=3),
    now=NOW,
)


@pytest.mark.parametrize(
    ("change_state", "request_state", "status"),
    [
        ("awaiting_consent", "open", "waiting"),
        ("queued", "approved", "approved"),
        ("rejected", "rejected", "rejected"),
        ("expired", "expired", "expired"),
        ("stale", "stale", "stale"),
        ("scheduled", "approved", "scheduled"),
        ("executing", "approved", "running"),
        ("reconciled", "approved", "done"),
        ("rolled_back", "approved", "failed"),
        ("escalated", "approved", "failed"),
    ],
)
def test_status_follows_the_request_then_the_change(
    change_state: str, request_state: str, status: str
) -> None:
    assert card_status(change_state, request_state) == status


def test_each_state_has_its_own_header_icon_and_colour() -> None:
    decided = replace(
        OPEN,
        state="approved",
        votes=[("U0BEN", "approve", ""), ("U0CHLOE", "approve", "")],
        decided_by="T1:U0CHLOE",
        decided_at=NOW - timedelta(minutes=5),
    )
    seen: dict[str, tuple[str, str]] = {}
    for change_state, card in [
        ("awaiting_consent", OPEN),
        ("queued", decided),
        ("executing", decided),
        ("reconciled", decided),
        ("failed", decided),
        ("scheduled", decided),
        ("rejected", replace(decided, state="rejected")),
        ("expired", replace(decided, state="expired", decided_by="system:expiry")),
        ("stale", replace(decided, state="stale", decided_by="system:drift")),
    ]:
        shown = consent_card(_change(state=change_state, not_before=NOW + timedelta(days=2)), card)
        look = LOOKS[shown.status]
        head = shown.blocks[0]["text"]["text"]
        assert head == f"{look.icon} {look.word}: CR-7 host.reboot", head
        assert shown.text == f"{look.word}: CR-7 host.reboot"  # the notification's words
        (attachment,) = shown.attachments
        assert attachment["color"] == look.color and attachment["blocks"]
        seen[shown.status] = (look.word, look.color)
    assert set(seen) == set(LOOKS)  # all nine states reached
    assert len({w for w, _ in seen.values()}) == len(LOOKS)
    assert seen["done"][1] != seen["failed"][1] != seen["waiting"][1]


def test_decision_line_says_who_and_when_and_a_schedule_says_when_it_runs() -> None:
    card = replace(
        OPEN,
        state="approved",
        votes=[("U0BEN", "approve", ""), ("U0CHLOE", "approve", "")],
        decided_by="T1:U0CHLOE",
        decided_at=NOW - timedelta(minutes=5),
        next_step="It is queued to run.",
    )
    body = _text(consent_card(_change(state="queued"), card).all_blocks)
    assert "*Approved by <@U0CHLOE>* · Thu 14:55 UTC, 5 min ago. It is queued to run." in body
    assert "expires" not in body  # a decided request has no deadline left
    running = consent_card(
        _change(state="executing"), replace(card, next_step="It is running now.")
    )
    assert running.blocks[0]["text"]["text"].startswith(":arrows_counterclockwise: Running:")
    # the decision keeps its own icon while the header follows the run
    assert ":white_check_mark: *Approved by <@U0CHLOE>*" in _text(running.all_blocks)
    sat = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    later = consent_card(
        _change(state="scheduled", not_before=sat), replace(card, tz="America/New_York")
    )
    assert later.status == "scheduled"
    assert "It waits for its time: runs Sat 22:00 EST, in 2 days." in _text(later.all_blocks)


def test_quorum_line_is_redrawn_after_each_vote() -> None:
    lines = []
    for votes in (
        [],
        [("U0BEN", "approve", "")],
        [("U0BEN", "approve", ""), ("U0DEV", "reject", "no")],
    ):
        blocks = consent_card(_change(), replace(OPEN, votes=votes)).all_blocks
        lines.append(next(t for t in _text(blocks).splitlines() if t.startswith("Quorum")))
    assert lines == [
        "Quorum 0/2 of approvers · no votes yet · expires in 3 h",
        "Quorum 1/2 of approvers · <@U0BEN> approved · expires in 3 h",
        "Quorum 1/2 of approvers · <@U0BEN> approved, <@U0DEV> rejected (no) · expires in 3 h",
    ]


def test_buttons_only_while_waiting_in_one_actions_row() -> None:
    waiting = consent_card(_change(), OPEN)
    rows = [b for b in waiting.all_blocks if b["type"] == "actions"]
    assert rows == [consent_actions(_change())]
    approve, reject = rows[0]["elements"][:2]
    assert (approve["style"], reject["style"]) == ("primary", "danger")
    closed = consent_card(_change(state="rejected"), replace(OPEN, state="rejected"))
    assert not [b for b in closed.all_blocks if b["type"] == "actions"]


def test_approve_asks_first_when_critical_systems_are_collateral() -> None:
    approve, reject, view = consent_actions(_change())["elements"]
    confirm = approve["confirm"]
    assert confirm["title"]["text"] == "Critical systems affected"
    assert confirm["text"]["type"] == "plain_text"  # estate names are never markup
    assert "also affects 1 critical system it does not target: svc-0." in confirm["text"]["text"]
    assert (reject["style"], view["action_id"], view["value"]) == (
        "danger",
        "consent_view_plan",
        "7",
    )
    calm = _change()
    plan = dict(calm.plan or {})
    plan["collateral"] = [dict(a, criticality="low") for a in plan["collateral"]]
    assert "confirm" not in consent_actions(replace(calm, plan=plan))["elements"][0]
    # a critical entity that is a target is intended, not collateral: no question
    plan["collateral"] = [{"id": "host:web-01", "name": "web-01", "criticality": "critical"}]
    assert "confirm" not in consent_actions(replace(calm, plan=plan))["elements"][0]


def test_card_links_back_to_the_request_thread() -> None:
    url = "https://acme.slack.com/archives/C1/p1700000000000100"
    body = _text(consent_card(_change(), replace(OPEN, thread_url=url)).all_blocks)
    assert f"*Requested by* <@U0ANA> in <{url}|the request thread> — _kernel patch_" in body
    assert "request thread" not in _text(consent_card(_change(), OPEN).all_blocks)


def test_plan_view_has_the_whole_plan_escaped_and_fits_a_modal() -> None:
    change = _change()
    plan = dict(change.plan or {})
    plan["collateral"] = [
        *plan["collateral"],
        {"name": "<!channel>", "kind": "service", "criticality": "low", "effect": "down"},
    ]
    plan["waves"] = [["host:web-01"], ["host:web-02", "host:web-03"]]
    plan["wave_plan"] = [{"index": 0, "canary": True}, {"index": 1, "window": "Sat 22:00"}]
    plan["halt_threshold"] = 0.2
    plan["intended"] = ["host:web-01", "host:web-02", "host:web-03"]
    plan["invariants"] = [
        *plan["invariants"],
        {"id": "backup_fresh", "description": "A fresh backup exists.", "passed": True},
    ]
    plan["rollback"] = [
        {"target": "host:web-01", "action": None, "note": "a reboot cannot be undone"},
        {"target": "host:web-02", "action": "patch.uninstall", "note": ""},
    ]
    view = plan_view(replace(change, plan=plan))
    assert check_view(view) == []  # Slack's limits for a modal
    body = _text(view["blocks"])
    assert "*Intended (3)*" in body and "*Collateral (13, 1 critical)*" in body
    assert ":warning: svc-0 (service, critical)" in body
    assert "&lt;!channel&gt;" in body and "<!channel>" not in body
    assert "*Wave 1* (canary): 1 target(s) — web-01" in body
    assert "*Wave 2*: 2 target(s) — web-02, web-03 · window Sat 22:00" in body
    assert "halts above 20% failures per wave" in body
    assert ":warning: svc-0 loses its last replica" in body
    assert ":white_check_mark: A fresh backup exists" in body
    assert "web-01: no automatic undo — a reboot cannot be undone" in body
    assert "web-02: `patch.uninstall`" in body
    assert "`backup_fresh`" in _text([b for b in view["blocks"] if b["type"] == "context"])
