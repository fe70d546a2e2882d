"""Conversations, /opshand, App Home and incident threads through the real HTTP app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.service import ChangeRequest, identity_of
from tests.bot.world import (
    ANA,
    BEN,
    CHLOE,
    DEVIKA,
    World,
    card_of,
    ref_in,
    slack_world,
    texts,
    wait_text,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as w:
        yield w


def _bot_said(w: World, channel: str, thread_ts: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in w.slack.messages(channel, thread_ts=thread_ts) if m.get("bot_id")]


def test_blast_radius_answer_lays_out_facts_grouped_with_a_fallback(world: World) -> None:
    ts = world.slack.send_message(
        ANA, "ops", f"<@{world.bot}> what depends on contoso-ny-db-prod-01?"
    )
    wait_text(world, "ops", "Blast radius of", thread_ts=ts)
    answer = _bot_said(world, "ops", ts)[0]
    assert answer["text"]  # plain-text fallback
    body = texts([answer])
    assert "contoso-erp-db" in body
    assert "```" in body and "criticality" in body  # the entity table
    assert any(b.get("fields") for b in answer["blocks"])  # grouped by kind and criticality
    call = world.slack.calls("chat.postMessage")[-1]
    assert str(call.params.get("unfurl_links")).lower() in ("false", "0")


def test_thread_follow_up_without_mention_goes_to_the_agent(world: World) -> None:
    ts = world.slack.send_message(
        ANA, "ops", f"<@{world.bot}> what depends on contoso-ny-db-prod-01?"
    )
    wait_text(world, "ops", "contoso-erp-db", thread_ts=ts)
    world.slack.send_message(ANA, "ops", "what depends on contoso-erp-db?", thread_ts=ts)
    world.slack.wait_for(lambda: len(_bot_said(world, "ops", ts)) >= 2, timeout=20)
    # a thread the bot is not in is left alone
    other = world.slack.send_message(BEN, "ops", "lunch?")
    world.slack.send_message(CHLOE, "ops", "yes", thread_ts=other)
    assert _bot_said(world, "ops", other) == []


def test_direct_message_is_answered(world: World) -> None:
    dm = world.slack.workspace.dm_channel(ANA).id
    ts = world.slack.send_message(ANA, dm, "what depends on contoso-ny-db-prod-01?")
    wait_text(world, dm, "contoso-erp-db", thread_ts=ts)


def test_slash_help_status_pending_and_unknown(world: World) -> None:
    assert world.slack.slash(ANA, "ops", "/opshand", "help") == 200
    assert "status CR-42" in world.slack.ephemerals(ANA)[-1]["text"]
    world.slack.slash(ANA, "ops", "/opshand", "frobnicate")
    assert "I don't know `frobnicate`" in world.slack.ephemerals(ANA)[-1]["text"]
    world.slack.slash(ANA, "ops", "/opshand", "pending")
    world.slack.wait_for(
        lambda: any("Nothing is waiting" in e["text"] for e in world.slack.ephemerals(ANA))
    )
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(world, "ops", "waiting for consent", thread_ts=ts))
    world.slack.slash(ANA, "ops", "/opshand", "pending")
    world.slack.wait_for(
        lambda: any(ref in e["text"] or ref in texts([e]) for e in world.slack.ephemerals(ANA)[-1:])
    )
    world.slack.slash(ANA, "ops", "/opshand", f"status {ref}")
    world.slack.wait_for(
        lambda: f"{ref}: waiting for consent" in world.slack.ephemerals(ANA)[-1]["text"]
    )
    world.slack.slash(ANA, "ops", "/opshand", "status CR-999")
    world.slack.wait_for(lambda: "does not exist" in world.slack.ephemerals(ANA)[-1]["text"])


def test_slash_ask_and_plan_answer_in_channel(world: World) -> None:
    world.slack.slash(ANA, "ops", "/opshand", "ask what depends on contoso-ny-db-prod-01?")
    wait_text(world, "ops", "contoso-erp-db")
    world.slack.slash(ANA, "ops", "/opshand", "plan restart contoso-erp-app")
    body = wait_text(world, "ops", "CR-")
    assert "runs now" in body or "waiting for consent" in body


def test_freeze_is_for_admins_only(world: World) -> None:
    world.slack.slash(ANA, "ops", "/opshand", "freeze maintenance")
    assert "Only opshand admins" in world.slack.ephemerals(ANA)[-1]["text"]
    assert world.oh.ops.guards.flag("freeze") is None
    world.slack.slash(BEN, "ops", "/opshand", "freeze storage migration")  # BEN is admin
    assert world.oh.ops.guards.flag("freeze") == "storage migration"
    world.slack.slash(BEN, "ops", "/opshand", "unfreeze")
    assert world.oh.ops.guards.flag("freeze") is None


def test_app_home_shows_waiting_votes_requests_and_autonomy(world: World) -> None:
    ts = world.slack.send_message(ANA, "ops", f"<@{world.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(world, "ops", "waiting for consent", thread_ts=ts))
    assert world.slack.open_home(CHLOE) == 200
    home = world.slack.wait_for(lambda: world.slack.home_for(CHLOE), timeout=10)
    body = texts([home])
    assert "Waiting for your vote (1)" in body and ref in body
    assert "Freeze" in body and "Circuit breaker" in body and "Auto actions this hour" in body
    world.slack.open_home(ANA)  # the requester: nothing to vote on, but it is their request
    mine = texts([world.slack.wait_for(lambda: world.slack.home_for(ANA), timeout=10)])
    assert "Waiting for your vote (0)" in mine
    assert "Your recent requests" in mine and ref in mine
    # words and human times, not state names and stamps
    assert re.search(
        rf"{ref}\* host\.reboot on .* — waiting for consent \(\w{{3}} \d\d:\d\d UTC, ", mine
    )
    assert "awaiting_consent" not in mine
    world.slack.open_home(DEVIKA)  # not an approver
    other = world.slack.wait_for(lambda: world.slack.home_for(DEVIKA), timeout=10)
    assert "Waiting for your vote (0)" in texts([other])


def test_signal_change_gets_an_incident_thread(tmp_path: Path) -> None:
    with slack_world(tmp_path, create_incident_channels=True) as w:
        res = w.oh.ops.propose(
            ChangeRequest(
                action="host.reboot",
                targets=["host:contoso-ny-bkp-prod-01"],
                params={},
                reason="alert: backup host hung",
                requester="signal:alertmanager",
                source="signal",
            )
        )
        assert res.change is not None
        ref = res.change.ref
        channel = f"inc-{ref.lower()}"
        root = w.slack.wait_for(lambda: _root(w, channel), timeout=10)
        assert ref in texts([root])
        card = card_of(w, ref)
        w.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_approve")
        body = wait_text(w, channel, "audit #", thread_ts=root["ts"], timeout=20)
        assert f"{ref} is waiting for consent from approvers — <" in body  # links the card
        assert f"<@{CHLOE}> approved" in body
        assert "Wave 1" in body and "Reconciled" in body


def _root(w: World, channel: str) -> dict | None:  # type: ignore[type-arg]
    try:
        msgs = w.slack.messages(channel)
    except ValueError:
        return None
    return msgs[0] if msgs else None


def test_requester_identity_is_team_and_user(world: World) -> None:
    assert identity_of(world.slack.team_id, ANA) == f"{world.slack.team_id}:{ANA}"


def test_incident_thread_goes_to_the_clients_configured_channel(tmp_path: Path) -> None:
    with slack_world(tmp_path, incident_channels={"contoso": "ops-digest"}) as w:
        res = w.oh.ops.propose(
            ChangeRequest(
                action="ticket.comment",
                targets=["ticket:TCK-1001"],
                params={"text": "investigating"},
                reason="runbook step",
                requester="signal:alertmanager",
                source="signal",
            )
        )
        assert res.status == "auto" and res.change is not None
        root = w.slack.wait_for(lambda: _root(w, "ops-digest"), timeout=10)
        assert res.change.ref in texts([root]) and "runs now" in texts([root])
        wait_text(w, "ops-digest", "audit #", thread_ts=root["ts"], timeout=20)
