"""The consent card of a scheduled change: when it runs, the window button only where the
change-window check flagged it, and the difference when it drifted before its start (G4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent.chat.offline.when import parse_when
from agent.service import ChangeRequest
from bot.cards import Card, CardState, consent_card
from tests.agent.ops_world import ANA, make_world
from twin.ingest import IngestBatch

T0 = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)  # Thu 08:00 in New York


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


OPEN = CardState(state="open", votes=[], quorum=1, approvers="approvers", expires_at=T0, now=T0)


def _text(card: Card) -> str:
    return str(card.all_blocks)


def _actions(card: Card) -> list[str]:
    blocks: list[dict[str, Any]] = card.all_blocks
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_g4_drift_at_start_card_shows_the_difference(engine: Engine, tmp_path: Path) -> None:
    clock = Clock(T0)
    w = make_world(engine, tmp_path, now=clock)
    when = parse_when("tonight", now=T0, tz="America/New_York")
    res = w.ops.propose(
        ChangeRequest(
            action="service.restart",
            targets=["contoso-dev-app"],
            params={},
            reason="restart contoso-dev-app tonight",
            requester=ANA,
            not_before=when.not_before,
        )
    )
    assert res.change is not None and res.plan is not None
    before = consent_card(w.ops.journal.get(res.change.id), replace(OPEN, tz="America/New_York"))
    assert "Runs not before Thu 22:00 EST, in 14 h" in _text(before)
    assert "Changed since it was approved" not in _text(before)
    # the service moves to another host before its time
    svc = w.ops.graph.get(res.plan.targets[0])
    moved = {**svc.model_dump(mode="json"), "attrs": {**svc.attrs, "note": "moved"}}
    w.ops.store.apply(IngestBatch(source="test", entities=[moved]))
    clock.at = datetime(2026, 12, 4, 3, 5, tzinfo=UTC)
    assert w.ops.drain() == []
    change = w.ops.journal.get(res.change.id)
    assert change.state == "awaiting_consent"
    card = _text(consent_card(change, replace(OPEN, now=clock.at)))
    assert "Changed since it was approved" in card
    for line in change.decision["drift"]:  # type: ignore[index]
        assert line.split(":")[0] in card
    assert "schedule-drift" in card  # the rule that sent it back
    assert _actions(consent_card(change, OPEN)) == [
        "consent_approve",
        "consent_reject",
        "consent_view_plan",
    ]
