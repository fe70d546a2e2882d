"""B11: Slack Connect and other external people are outsiders unless listed by team and id.

Payload shapes follow Slack's: message events in a shared channel carry the author's own
``team``/``user_team``/``source_team`` (as in Slack's Events API message examples), and
interaction payloads the clicker's own ``user.team_id`` while ``team.id`` names the installation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.world import (
    ANA,
    BEN,
    CHLOE,
    OUTSIDER,
    OUTSIDER_BARE,
    OUTSIDER_LISTED,
    OUTSIDER_TEAM,
    World,
    card_of,
    ref_in,
    slack_world,
    wait_text,
)

ROLES = {
    # one of ours listed bare, an outsider by bare id (a mistake), an outsider by team and id
    "approvers": [BEN, CHLOE, OUTSIDER_BARE, f"{OUTSIDER_TEAM}:{OUTSIDER_LISTED}"],
    "requesters": ["*"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path, request.param, roles=ROLES) as w:
        yield w


def _consent(w: World) -> tuple[str, dict]:  # type: ignore[type-arg]
    ts = w.slack.send_message(ANA, "ops", f"<@{w.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(w, "ops", "waiting for consent", thread_ts=ts))
    return ref, card_of(w, ref)


def test_b11_outsider_cannot_request_a_change_even_when_everyone_may(world: World) -> None:
    ts = world.slack.send_message(
        OUTSIDER, "ops", f"<@{world.bot}> reboot contoso-ny-bkp-prod-01 now"
    )
    said = wait_text(world, "ops", "may not request", thread_ts=ts)
    assert "may not request" in said
    assert world.oh.ops.journal.list() == []


def test_b11_outsider_votes_count_only_when_listed_by_team(world: World) -> None:
    ref, card = _consent(world)
    # an outsider whose bare id happens to be in the approvers list: refused
    world.slack.click(OUTSIDER_BARE, "ops-approvals", card["ts"], "consent_approve")
    world.slack.wait_for(
        lambda: [e for e in world.slack.ephemerals(OUTSIDER_BARE) if "only members" in e["text"]],
        timeout=10,
    )
    world.slack.click(OUTSIDER, "ops-approvals", card["ts"], "consent_approve")
    world.slack.wait_for(
        lambda: [e for e in world.slack.ephemerals(OUTSIDER) if "only members" in e["text"]],
        timeout=10,
    )
    assert world.oh.ops.status(ref).state == "awaiting_consent"
    # listed by team and id: that outsider's vote counts
    world.slack.click(OUTSIDER_LISTED, "ops-approvals", card["ts"], "consent_approve")
    world.slack.wait_for(
        lambda: world.oh.ops.status(ref).state not in ("awaiting_consent",), timeout=20
    )
    assert world.oh.ops.status(ref).state in (
        "approved", "queued", "executing", "succeeded", "reconciled"
    )  # fmt: skip
