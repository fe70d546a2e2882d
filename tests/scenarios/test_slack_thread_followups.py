"""Follow-ups in a Slack thread refer to its subject, through the real Bolt app and the local
Slack server: "why was it rejected?", "who rejected it?", "status?", "undo that",
"what about -02?", "and its backups?" (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.world import ANA, CHLOE, World, card_of, ref_in, slack_world, texts, wait_text


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as w:
        yield w


def _bot(w: World, ts: str) -> list[dict[str, Any]]:
    return [m for m in w.slack.messages("ops", thread_ts=ts) if m.get("bot_id")]


def _ask(w: World, ts: str, text: str, expect: str) -> str:
    """Say ``text`` in the thread (no mention); the bot's next answer, which holds ``expect``."""
    before = len(_bot(w, ts))
    w.slack.send_message(ANA, "ops", text, thread_ts=ts)
    try:
        w.slack.wait_for(lambda: expect in texts(_bot(w, ts)[before:]), timeout=20)
    except TimeoutError:
        raise AssertionError(f"{expect!r} not in {texts(_bot(w, ts)[before:])!r}") from None
    return next(t for m in _bot(w, ts)[before:] if expect in (t := texts([m])))


def test_follow_ups_about_a_rejected_change(world: World) -> None:
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(world, "ops", "waiting for consent", thread_ts=ts))
    card = card_of(world, ref)
    world.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_reject")
    view = world.slack.wait_for(lambda: world.slack.view_for(CHLOE), timeout=10)
    world.slack.submit_view(CHLOE, view["id"], {"text": "backup window is running"})
    wait_text(world, "ops", "backup window is running", thread_ts=ts)

    why = _ask(world, ts, "why was it rejected?", f"{ref} (host.reboot")
    first = next(line for line in why.splitlines() if ref in line)
    assert "rejected by" in first and "backup window is running" in first
    assert "Policy had asked for consent because" in why and ".;" not in why
    assert "did not understand" not in why

    assert "Rejected by" in _ask(world, ts, "who rejected it?", "Rejected by")
    assert "rejected" in _ask(world, ts, "status?", f"{ref} (host.reboot on")
    undo = _ask(world, ts, "undo that", "nothing to undo")
    assert ref in undo
    assert len(world.oh.ops.journal.list(limit=10)) == 1  # no new change


def test_follow_ups_about_an_entity(world: World) -> None:
    ts = world.slack.send_message(
        ANA, "ops", f"<@{world.bot}> tell me about contoso-ny-web-prod-01"
    )
    wait_text(world, "ops", "contoso-ny-web-prod-01 is a host", thread_ts=ts)
    sibling = _ask(world, ts, "what about -02?", "contoso-ny-web-prod-02 is a host")
    assert "ws-0002" not in sibling
    _ask(world, ts, "what depends on it?", "depend on contoso-ny-web-prod-02")
    _ask(world, ts, "and its backups?", "contoso-ny-web-prod-02 daily")
