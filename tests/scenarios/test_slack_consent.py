"""Consent cards through the real HTTP app: content, updates in place, refusals, final states."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk import WebClient

from bot.cards import LOOKS
from bot.localslack import Attempt, sign
from tests.bot.world import (
    ANA,
    BEN,
    BOT_TOKEN,
    CHLOE,
    FAKE_BEN,
    SIGNING_SECRET,
    World,
    all_blocks,
    card_of,
    message,
    ref_in,
    slack_world,
    texts,
    wait_text,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path, request.param) as w:
        yield w


def _consent(w: World, user: str = BEN) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    ts = w.slack.send_message(user, "ops", f"<@{w.bot}> reboot contoso-ny-bkp-prod-01 now")
    body = wait_text(w, "ops", "waiting for consent", thread_ts=ts)
    ref = ref_in(body)
    return ts, ref, card_of(w, ref)


def _has_buttons(m: dict) -> bool:  # type: ignore[type-arg]
    return any(b["type"] == "actions" for b in all_blocks(m))


def test_card_shows_plan_blast_radius_rule_quorum_expiry_and_requester(world: World) -> None:
    _ts, ref, card = _consent(world)
    body = texts([card])
    assert f"Consent needed: {ref} host.reboot" in body
    assert "contoso-ny-bkp-prod-01" in body  # the plan's target
    assert "intended" in body and "collateral" in body
    assert "Invariant" in body  # invariant results, passing or not
    assert "Why consent:" in body and "`" in body  # the deciding rule id and its reason
    assert "Quorum 0/" in body and "expires" in body
    assert f"<@{BEN}>" in body  # who asked
    assert _has_buttons(card)


def test_thread_gets_one_line_linking_the_card_not_a_copy(world: World) -> None:
    ts, ref, card = _consent(world)
    said = [m for m in world.slack.messages("ops", thread_ts=ts) if m.get("bot_id")]
    waiting = [m for m in said if "waiting for consent from" in m["text"]]
    assert len(waiting) == 1 and not waiting[0].get("blocks")
    assert "\n" not in waiting[0]["text"]  # one line
    client = WebClient(token=BOT_TOKEN, base_url=world.slack.api_url)
    approvals = world.slack.channel_id("ops-approvals")
    link = client.chat_getPermalink(channel=approvals, message_ts=card["ts"])["permalink"]
    assert f"<{link}|see the card>" in waiting[0]["text"]
    body = texts(said)
    assert f"Consent needed: {ref}" not in body  # no second copy of the card
    assert "needs consent" not in body and "needs_consent" not in body  # no restatement
    assert "result follows" not in body.lower()


def test_card_updates_in_place_then_closes_with_who_decided(world: World) -> None:
    ts, ref, card = _consent(world, user=ANA)
    world.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve")

    def closed() -> dict | None:  # type: ignore[type-arg]
        now = message(world, "ops-approvals", card["ts"])
        return None if _has_buttons(now) else now

    final = world.slack.wait_for(closed, timeout=20)
    body = texts([final])
    assert f"Approved by <@{BEN}>" in body
    assert f"<@{BEN}> approved" in body
    # one card, updated in place: no second card in the channel
    cards = [m for m in world.slack.messages("ops-approvals") if ref in texts([m])]
    assert len(cards) == 1
    # the requester is told in their thread, and the result follows
    wait_text(world, "ops", f"{ref} was approved by <@{BEN}>", thread_ts=ts)
    wait_text(world, "ops", "audit #", thread_ts=ts)
    world.slack.wait_for(
        lambda: "reconciled" in texts([message(world, "ops-approvals", card["ts"])]), timeout=20
    )


def test_card_follows_the_change_through_its_run_in_colour(world: World) -> None:
    _ts, ref, card = _consent(world, user=ANA)
    (waiting,) = card["attachments"]
    assert waiting["color"] == LOOKS["waiting"].color.removeprefix("#")
    assert card["blocks"][0]["text"]["text"].startswith(":hourglass_flowing_sand: Consent needed")
    world.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve")
    done = world.slack.wait_for(
        lambda: (
            (m := message(world, "ops-approvals", card["ts"]))["text"].startswith("Done:") and m
        ),
        timeout=20,
    )
    assert done["blocks"][0]["text"]["text"] == f":white_check_mark: Done: {ref} host.reboot"
    assert done["attachments"][0]["color"] == LOOKS["done"].color.removeprefix("#")
    decided = rf"\*Approved by <@{BEN}>\* · \w{{3}} \d\d:\d\d UTC, (now|\d+ min ago)\."
    assert re.search(decided, texts([done])), texts([done])
    # the card was redrawn when the run started, not only when it ended
    headers = [
        json.loads(c.params["blocks"])[0]["text"]["text"]
        if isinstance(c.params.get("blocks"), str)
        else c.params["blocks"][0]["text"]["text"]
        for c in world.slack.calls("chat.update")
        if c.params.get("ts") == card["ts"]
    ]
    assert any(h.startswith(":arrows_counterclockwise: Running:") for h in headers), headers


def test_view_plan_opens_the_whole_plan_and_the_card_links_the_thread(world: World) -> None:
    ts, _ref, card = _consent(world, user=ANA)
    client = WebClient(token=BOT_TOKEN, base_url=world.slack.api_url)
    thread = client.chat_getPermalink(channel=world.slack.channel_id("ops"), message_ts=ts)
    assert f"in <{thread['permalink']}|the request thread>" in texts([card])
    world.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_view_plan")
    view = world.slack.wait_for(lambda: world.slack.view_for(CHLOE), timeout=10)
    body = texts([{"blocks": view["blocks"]}])
    for part in ("*Intended (1)*", "*Collateral (1, 0 critical)*", "*Wave 1*", "*Rollback*"):
        assert part in body, body
    assert "contoso-backup (service, high)" in body
    assert "no automatic undo — a reboot cannot be undone" in body
    assert world.oh.ops.status(_ref).state == "awaiting_consent"  # looking is not voting


def test_b7_display_name_imitating_an_approver_is_refused(world: World) -> None:
    _, ref, card = _consent(world, user=ANA)
    assert world.slack.click(FAKE_BEN, "ops-approvals", card["ts"], "consent_approve") == 200
    refusal = world.slack.wait_for(
        lambda: [e for e in world.slack.ephemerals(FAKE_BEN) if "only members" in e["text"]],
        timeout=10,
    )
    assert "approvers" in refusal[0]["text"]
    assert world.oh.ops.status(ref).state == "awaiting_consent"
    assert _has_buttons(message(world, "ops-approvals", card["ts"]))


def _click_again(w: World, attempt: Attempt, action_ts: str) -> int:
    """The same person's second click on the same button: a new, validly signed payload."""
    payload = dict(attempt.payload)
    payload["actions"] = [dict(payload["actions"][0], action_ts=action_ts)]
    body = urlencode({"payload": json.dumps(payload)}).encode()
    now = int(time.time())
    r = httpx.post(
        w.http.url,
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": sign(SIGNING_SECRET, now, body),
        },
    )
    return r.status_code


def test_double_click_and_slack_retry_count_once(world: World) -> None:
    _, ref, card = _consent(world, user=ANA)
    world.oh.ops.stop_worker()  # nothing runs: the consent state stays observable
    world.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_approve")
    click = [a for a in world.slack.deliveries() if a.kind == "interaction"][-1]
    time.sleep(1.05)  # a retry is signed in a later second than the original
    assert world.slack.replay(click, retry_num=1) == 200  # Slack's retry of the same click
    assert _click_again(world, click, "9999999999.000001") == 200  # a double click
    reqs = world.oh.ops.consent.for_change(ref.removeprefix("CR-"))
    votes = world.oh.ops.consent.votes(reqs[-1].id)
    assert [(v.voter.user_id, v.vote) for v in votes] == [(CHLOE, "approve")]
    assert world.oh.ops.status(ref).state in ("queued", "approved")


def test_reject_asks_for_a_reason_and_tells_the_requester(world: World) -> None:
    ts, ref, card = _consent(world, user=ANA)
    world.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_reject")
    view = world.slack.wait_for(lambda: world.slack.view_for(CHLOE), timeout=10)
    world.slack.submit_view(CHLOE, view["id"], {"text": "backup window is running"})
    wait_text(world, "ops", "backup window is running", thread_ts=ts)
    final = world.slack.wait_for(
        lambda: (m := message(world, "ops-approvals", card["ts"])) and not _has_buttons(m) and m,
        timeout=10,
    )
    assert "Rejected by" in texts([final]) and "will not run" in texts([final])
    assert world.oh.ops.status(ref).state == "rejected"


def test_expired_card_closes_and_requester_is_told(world: World) -> None:
    ts, ref, card = _consent(world, user=ANA)
    ops = world.oh.ops
    real_now = ops.now
    ops.now = lambda: real_now() + timedelta(days=3)  # the clock moves past the expiry
    try:
        expired = ops.expire_consents()
    finally:
        ops.now = real_now
    assert [c.ref for c in expired] == [ref]
    final = world.slack.wait_for(
        lambda: (m := message(world, "ops-approvals", card["ts"])) and not _has_buttons(m) and m,
        timeout=10,
    )
    assert "Expired" in texts([final])
    wait_text(world, "ops", "expired", thread_ts=ts)


def test_a11_hostile_reject_reason_reaches_the_channels_escaped(world: World) -> None:
    """A vote reason is free text: through the real listeners it is shown, never live."""
    hostile = "<!channel> log in at <https://evil.example|SSO login> & ping <@U0EVIL1>"
    ts, _ref, card = _consent(world, user=ANA)
    world.slack.click(CHLOE, "ops-approvals", card["ts"], "consent_reject")
    view = world.slack.wait_for(lambda: world.slack.view_for(CHLOE), timeout=10)
    world.slack.submit_view(CHLOE, view["id"], {"text": hostile})
    told = wait_text(world, "ops", "&lt;!channel&gt;", thread_ts=ts)
    final = world.slack.wait_for(
        lambda: (m := message(world, "ops-approvals", card["ts"])) and not _has_buttons(m) and m,
        timeout=10,
    )
    for said in (told, texts([final])):
        assert "<!channel>" not in said and "<https://evil" not in said
        assert "<@U0EVIL1>" not in said and "&lt;@U0EVIL1&gt;" in said
    assert f"<@{CHLOE}>" in texts([final])  # our own mention of the person who decided


def test_requester_thread_is_short_one_message_per_event(world: World) -> None:
    """The requester's thread: the answer (what was proposed, once), the waiting line with the
    link, and after approval the approval line, then the run's result. Nothing said twice."""
    ts, ref, card = _consent(world, user=ANA)

    def said() -> list[dict]:  # type: ignore[type-arg]
        return [m for m in world.slack.messages("ops", thread_ts=ts) if m.get("bot_id")]

    world.slack.wait_for(lambda: len(said()) >= 2 or None, timeout=10)
    time.sleep(0.5)  # nothing else arrives
    before = said()
    assert len(before) == 2, texts(before)
    answer = next(m for m in before if m["text"].startswith("I proposed"))
    assert answer["text"] == (
        f"I proposed {ref} (host.reboot on contoso-ny-bkp-prod-01); "
        "it needs 1 approval from approvers before it runs."
    )
    assert texts(before).count("waiting for consent") == 1
    world.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve")
    wait_text(world, "ops", "audit #", thread_ts=ts)
    time.sleep(0.5)
    after = said()[2:]
    assert len(after) == 2, texts(after)
    assert after[0]["text"].startswith(f":white_check_mark: {ref} was approved by <@{BEN}>")
    assert "\n" not in after[0]["text"]
    assert "audit #" in texts([after[1]])
    assert ".;" not in texts(said()) and "needs_consent" not in texts(said())
