"""Block Kit rendering: Slack's limits, consent card states, answers with facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from agent.execution import Change
from bot.blocks import (
    MAX_BLOCKS,
    answer_blocks,
    cut,
    decision_blocks,
    header,
    limit_blocks,
    md,
    thread_summary,
)
from bot.cards import CardState, consent_card


def _change(**over: Any) -> Change:
    plan = {
        "action": "host.reboot",
        "targets": ["host:web-01"],
        "target_names": ["web-01"],
        "intended": ["host:web-01"],
        "collateral": [
            {
                "name": f"svc-{i}",
                "kind": "service",
                "criticality": "critical" if i == 0 else "low",
                "effect": "down during reboot",
            }
            for i in range(12)
        ],
        "invariants": [
            {
                "id": "replicas-kept",
                "passed": False,
                "severity": "needs_consent",
                "violations": [{"message": "svc-0 loses its last replica"}],
            }
        ],
        "waves": [["host:web-01"]],
    }
    base: dict[str, Any] = dict(
        id=7,
        state="awaiting_consent",
        action="host.reboot",
        targets=["host:web-01"],
        params={},
        reason="kernel patch",
        requester="T1:U0ANA",
        source="person",
        channel="C1",
        thread_ts="1.0",
        plan=plan,
        plan_hash="a" * 64,
        policy_hash="b" * 64,
        decision={
            "outcome": "consent",
            "quorum": 2,
            "approvers": "approvers",
            "deciding": ["prod-reboot"],
            "reasons": {
                "prod-reboot": "Production reboots need two approvers.",
                "other": "not deciding",
            },
        },
        result=None,
        supersedes=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    base.update(over)
    return Change(**base)


def _text(blocks: list[dict[str, Any]]) -> str:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out += [e["text"] for e in b.get("elements", []) if isinstance(e.get("text"), str)]
        out += [f["text"] for f in b.get("fields", [])]
    return "\n".join(out)


def test_cut_keeps_the_limit_and_says_so() -> None:
    assert cut("short", 10) == "short"
    long = cut("x" * 5000, 3000)
    assert len(long) == 3000 and long.endswith("(cut to fit Slack)")
    assert len(md("y" * 9000)["text"]["text"]) == 3000
    assert len(header("h" * 400)["text"]["text"]) == 150


def test_limit_blocks_keeps_fifty_with_a_note() -> None:
    blocks = limit_blocks([md(str(i)) for i in range(80)])
    assert len(blocks) == MAX_BLOCKS
    assert "31 more blocks not shown" in _text(blocks[-1:])


def test_open_card_shows_what_why_quorum_and_buttons() -> None:
    card = CardState(
        state="open",
        votes=[("U0BEN", "approve", "")],
        quorum=2,
        approvers="approvers",
        expires_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        now=datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
    )
    blocks = consent_card(_change(), card).all_blocks
    body = _text(blocks)
    assert "Consent needed: CR-7 host.reboot" in body
    assert "<@U0ANA>" in body and "kernel patch" in body
    assert "1 intended, 12 collateral" in body and "*1 critical*" in body
    assert body.index("svc-0") < body.index("svc-1")  # critical first
    assert "… and 4 more" in body
    assert "`replicas-kept`" in body and "last replica" in body
    # the reason in words as a bullet; the rule id only in the details (context) line
    assert "• Production reboots need two approvers." in body
    assert "`prod-reboot`: " not in body and "Policy · rule `prod-reboot`" in body
    assert ".;" not in body
    assert "not deciding" not in body
    assert "Quorum 1/2 of approvers" in body and "<@U0BEN> approved" in body
    assert "expires in 3 h" in body
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        "consent_approve",
        "consent_reject",
        "consent_view_plan",
    ]
    assert actions[0]["elements"][0]["value"] == f"7|{'a' * 64}"


def test_closed_card_has_no_buttons_and_says_who_and_what_next() -> None:
    card = CardState(
        state="rejected",
        votes=[("U0CHLOE", "reject", "bad timing")],
        quorum=2,
        approvers="approvers",
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
        decided_by="T1:U0CHLOE",
        next_step="It will not run.",
    )
    blocks = consent_card(_change(state="rejected"), card).all_blocks
    assert not any(b["type"] == "actions" for b in blocks)
    body = _text(blocks)
    assert "*Rejected by <@U0CHLOE>*" in body and "It will not run." in body
    assert "(bad timing)" in body
    expired = consent_card(
        _change(state="expired"),
        CardState(
            state="expired",
            votes=[],
            quorum=1,
            approvers="approvers",
            expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            decided_by="system:expiry",
            next_step="Nobody decided.",
        ),
    ).all_blocks
    assert "Expired by `system:expiry`" in _text(expired)


def test_decision_blocks_for_denied_and_auto() -> None:
    denied = _change(
        state="denied",
        result={"message": "Break-glass accounts are never touched"},
        decision={"outcome": "deny", "reasons": {}},
    )
    assert "refused." in _text(decision_blocks(denied))
    assert "never touched" in _text(decision_blocks(denied))
    auto = _change(state="queued", decision={"outcome": "auto", "reasons": {"r": "routine"}})
    assert "runs now" in _text(decision_blocks(auto))


def test_answer_blocks_group_blast_radius_and_table_entities() -> None:
    data = {
        "entity": {"name": "db-01"},
        "total": 30,
        "by_kind": {"service": 20, "host": 10},
        "by_criticality": {"low": 5, "critical": 25},
        "items": [
            {"name": f"svc-{i}", "kind": "service", "criticality": "critical", "client": "contoso"}
            for i in range(30)
        ],
    }
    blocks = answer_blocks("30 things depend on db-01.", [("twin_blast_radius", data)])
    body = _text(blocks)
    assert body.startswith("30 things depend on db-01.")
    fields = next(b for b in blocks if b.get("fields"))["fields"]
    # kinds in one column, criticality in the other, never interleaved
    assert [f["text"].split("\n") for f in fields] == [
        ["*By kind*", "service: 20", "host: 10"],
        ["*By criticality*", "critical: 25", "low: 5"],
    ]
    assert "```" in body and "svc-19" in body and "svc-20" not in body
    assert "showing 20 of 30 entities" in body


def test_thread_summary_reports_each_wave_and_reconciliation() -> None:
    change = _change(
        state="reconciled",
        plan={**(_change().plan or {}), "waves": [["host:a"], ["host:b", "host:c"]]},
        result={
            "targets": {
                "host:a": {"state": "done"},
                "host:b": {"state": "done"},
                "host:c": {"state": "failed", "detail": "timeout"},
            },
            "observations": [
                {"target": "host:a", "check": "up", "ok": True, "detail": ""},
                {"target": "host:c", "check": "up", "ok": False, "detail": "still down"},
            ],
        },
    )
    body = _text(thread_summary(change, "#12 abcdef"))
    assert "Wave 1* (1): done 1" in body and "Wave 2* (2)" in body
    assert "c: failed — timeout" in body
    assert "1/2 observations match" in body and "still down" in body
    assert "audit #12 abcdef" in body


def test_g1_card_says_the_blast_radius_and_environment_are_unknown() -> None:
    change = _change()
    plan = {
        **change.plan,
        "uncovered": [
            {"id": "service:contoso-erp-db", "name": "contoso-erp-db", "coverage": "none"}
        ],
        "unknown_env": ["contoso-erp-db"],
    }
    card = CardState(
        state="open",
        votes=[],
        quorum=1,
        approvers="approvers",
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    body = _text(consent_card(_change(plan=plan), card).all_blocks)
    assert "blast radius unknown: no topology source covers contoso-erp-db" in body
    assert "environment unknown: no source states the environment of contoso-erp-db" in body
    assert "blast radius unknown" not in _text(consent_card(change, card).all_blocks)


def test_decision_reasons_are_bullets_and_rule_ids_stay_in_the_details() -> None:
    from datetime import UTC, datetime

    from agent.execution import Change
    from bot.blocks import decision_blocks

    now = datetime(2026, 1, 1, tzinfo=UTC)
    change = Change(
        id=3,
        state="awaiting_consent",
        action="host.reboot",
        targets=["host:web-01"],
        params={},
        reason="r",
        requester="T:U",
        source="person",
        channel="C",
        thread_ts="1.0",
        plan=None,
        plan_hash="h" * 20,
        policy_hash="p" * 20,
        supersedes=None,
        result=None,
        decision={
            "outcome": "consent",
            "quorum": 1,
            "approvers": "approvers",
            "reasons": {
                "prod-reboot-or-patch": "Production needs an approver.",
                "needs_consent": "A check needs a person.",
            },
        },
        created_at=now,
        updated_at=now,
    )
    blocks = decision_blocks(change)
    main = blocks[0]["text"]["text"]
    assert ".;" not in main and "needs_consent" not in main and "prod-reboot" not in main
    assert "\n• Production needs an approver.\n• A check needs a person." in main
    details = blocks[-1]["elements"][0]["text"]
    assert "`prod-reboot-or-patch`" in details and "`needs_consent`" in details


_INTERNAL = re.compile(r"\b[a-z]+_[a-z_]+\b")
"""An internal name (``needs_consent``, ``awaiting_consent``, ``rolled_back``)."""


def _main_text(blocks: list[dict[str, Any]]) -> str:
    """What people read first: every block but the details (context) lines, emoji codes out."""
    return re.sub(r":[a-z_]+:", "", _text([b for b in blocks if b["type"] != "context"]))


def test_builders_speak_words_and_keep_internal_names_in_the_details() -> None:
    glued = {"outcome": "deny", "reasons": {"a": "Frozen.", "b": "Not in a window;"}}
    denied = _change(
        state="denied", decision=glued, result={"message": "Frozen.; Not in a window;"}
    )
    open_card = CardState(
        state="open",
        votes=[],
        quorum=1,
        approvers="approvers",
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    rendered = {
        "consent": decision_blocks(_change()),
        "denied": decision_blocks(denied),
        "other": decision_blocks(_change(state="rolled_back", decision={})),
        "card": consent_card(_change(), open_card).all_blocks,
        "summary": thread_summary(
            _change(
                state="rolled_back",
                result={"targets": {"host:web-01": {"state": "rolled_back", "detail": "x"}}},
            ),
            "#1 abc",
        ),
    }
    for name, blocks in rendered.items():
        main = _main_text(blocks)
        assert not _INTERNAL.findall(main), (name, _INTERNAL.findall(main), main)
        assert ".;" not in main, name
    # the invariant's id and its severity word stay in the details, its message is a bullet
    card = rendered["card"]
    assert "• svc-0 loses its last replica (needs an approver)" in _main_text(card)
    assert "`replicas-kept`" in _text([b for b in card if b["type"] == "context"])
    # a denial's reasons are bullets, not the journal's glued sentence
    assert "• Frozen.\n• Not in a window." in _main_text(rendered["denied"])
    assert "rolled back" in _main_text(rendered["summary"])
