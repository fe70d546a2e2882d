"""Scheduled changes through the real HTTP app and the local Slack workspace (G4): "Approve for
the next window" on a card the change-window check flagged, times in each reader's zone, and
``/opshand cancel`` as a signed slash command."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.humantime import when_text
from tests.bot.world import (
    ANA,
    BEN,
    CHLOE,
    World,
    all_blocks,
    card_of,
    message,
    ref_in,
    slack_world,
    texts,
    wait_text,
)

TARGET = "contoso-ny-bkp-prod-01"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path, request.param) as w:
        yield w


def _window(w: World, window: dict[str, Any] | None) -> None:
    """contoso's maintenance window, as the source leading the entity sees it (``None``: none
    on record)."""
    w.oh.ops.store.set_attrs(
        "client:contoso", {"maintenance_window": window}, actor="test", reason="test"
    )


def _closed_window(w: World) -> None:
    """A daily window in UTC that opens about six hours from now (so it is closed now)."""
    opens = w.oh.ops.now() + timedelta(hours=6)
    _window(
        w,
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": f"{opens.hour:02d}:00",
            "end": f"{(opens.hour + 1) % 24:02d}:00",
            "tz": "UTC",
        },
    )


def _flagged_card(w: World) -> tuple[str, str, dict[str, Any]]:
    _closed_window(w)
    ts = w.slack.send_message(ANA, "ops", f"<@{w.bot}> reboot {TARGET} now")
    ref = ref_in(wait_text(w, "ops", "waiting for consent", thread_ts=ts))
    return ts, ref, card_of(w, ref)


def _buttons(m: dict[str, Any]) -> list[str]:
    return [
        el["action_id"] for b in all_blocks(m) if b["type"] == "actions" for el in b["elements"]
    ]


def test_g4_approve_for_the_next_window_through_slack(world: World) -> None:
    w = world
    ts, ref, card = _flagged_card(w)
    assert _buttons(card) == [
        "consent_approve",
        "consent_approve_window",
        "consent_reject",
        "consent_view_plan",
    ]
    assert w.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_approve_window") == 200
    w.slack.wait_for(lambda: w.oh.ops.status(ref).state == "scheduled" or None, timeout=20)
    change = w.oh.ops.status(ref)
    assert change.not_before is not None and change.not_before > w.oh.ops.now()
    # Chloe is told in her own Slack zone (Europe/Paris in the local workspace) ...
    said = w.slack.wait_for(
        lambda: [e for e in w.slack.ephemerals(CHLOE) if "next window" in e["text"]], timeout=10
    )
    assert "CET" in said[0]["text"] or "CEST" in said[0]["text"]
    # ... Ana, the requester, in hers (America/New_York), in her thread ...
    ana_at = when_text(change.not_before, now=w.oh.ops.now(), tz="America/New_York")
    wait_text(w, "ops", f"not before {ana_at.split(',')[0]}", thread_ts=ts)
    # ... and the card, read by many, in the display zone, named.
    closed = w.slack.wait_for(
        lambda: None if _buttons(m := message(w, "ops-approvals", card["ts"])) else m, timeout=20
    )
    assert "UTC" in texts([closed]) and "waits for its time" in texts([closed])
    assert w.oh.sim is not None and w.oh.sim.effects("rmm", "reboot") == 0


def test_an_unknown_window_refuses_the_button_in_slack(world: World) -> None:
    w = world
    _, ref, card = _flagged_card(w)
    _window(w, None)
    assert w.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve_window") == 200
    said = w.slack.wait_for(
        lambda: [e for e in w.slack.ephemerals(BEN) if "not a safe time" in e["text"]], timeout=10
    )
    assert "no maintenance window" in said[0]["text"]
    assert w.oh.ops.status(ref).state == "awaiting_consent"


def test_cancel_a_scheduled_change_with_the_slash_command(world: World) -> None:
    w = world
    _, ref, card = _flagged_card(w)
    w.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve_window")
    w.slack.wait_for(lambda: w.oh.ops.status(ref).state == "scheduled" or None, timeout=20)
    # someone who is neither its requester nor an approver is refused, only to them
    assert w.slack.slash("U0LOCAL04", "ops", "/opshand", f"cancel {ref}") == 200
    w.slack.wait_for(
        lambda: [e for e in w.slack.ephemerals("U0LOCAL04") if "can cancel" in e["text"]],
        timeout=10,
    )
    assert w.oh.ops.status(ref).state == "scheduled"
    # the requester cancels it with a reason: said in the channel, audited, never runs
    assert w.slack.slash(ANA, "ops", "/opshand", f"cancel {ref} not tonight") == 200
    wait_text(w, "ops", f"{ref} cancelled; it will not run.")
    change = w.oh.ops.status(ref)
    assert change.state == "stale" and change.result and change.result["cancelled"]
    rows = w.oh.audit.query(change_id=str(change.id), limit=50)
    assert any(r.kind == "change.stale" and r.actor.endswith(ANA) for r in rows)


def test_the_demo_step_ends_in_a_scheduled_change_with_its_time(world: World) -> None:
    from bot.cli.demo_steps import DEMO_STEPS

    w = world
    [step] = [s for s in DEMO_STEPS if s.title == "Ask for a change tonight"]
    assert step.say is not None and step.user == "ana"
    ts = w.slack.send_message(ANA, "ops", step.say.replace("@opshand", f"<@{w.bot}>"))
    ref = ref_in(wait_text(w, "ops", "waiting for consent", thread_ts=ts))
    change = w.oh.ops.status(ref)
    assert change.action == "patch.apply" and change.not_before is not None
    # "tonight" is Ana's night: 22:00 in New York
    assert when_text(change.not_before, now=w.oh.ops.now(), tz="America/New_York").startswith(
        f"{change.not_before.astimezone(ZoneInfo('America/New_York')):%a} 22:00 E"
    )
    wait_text(w, "ops", "Not before", thread_ts=ts)
    card = card_of(w, ref)
    assert "Runs not before" in texts([card])
    assert w.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve") == 200
    w.slack.wait_for(lambda: w.oh.ops.status(ref).state == "scheduled" or None, timeout=20)
    wait_text(w, "ops", "waits for its time: not before", thread_ts=ts)
