"""Consent: Approve / Reject / View plan buttons, the modals, and the cards' life cycle.

A card the change-window check flagged also offers "Approve for the next window": the same vote,
and the change waits (``scheduled``) until its targets' maintenance window next opens.

Cards are driven by the operations facade's change events, so every path that asks for consent
(agent, slash command, signal runbook) gets one. The card is posted once, to the approvers'
channel, and updated in place after every vote, and closed (buttons gone, who decided, what
happens next) when the request is approved, rejected, expires or goes stale. The request's
thread gets one line per event: "waiting for consent from ..." with a link to the card, then
the outcome. Votes carry only the signed payload's team and user ids.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy import select

from agent.execution import Change
from agent.humantime import when_text
from agent.service import ChangeEvent, identity_of
from bot.blocks import state_words
from bot.cards import CardState, consent_card
from bot.listeners._shared import SlackOut, team_of, user_of
from bot.mrkdwn import esc, link, mention, person
from bot.plan_view import VIEW_PLAN, plan_view
from bot.tables import cards_table
from twin import utcnow

__all__ = [
    "card_state",
    "cards_for",
    "next_step",
    "register_consent",
    "remember_card",
    "waiting_line",
]

log = logging.getLogger(__name__)


_NEXT = {
    "approved": "It is queued to run.",
    "queued": "It is queued to run.",
    "executing": "It is running now.",
    "rejected": "It will not run.",
    "expired": "Nobody decided before the request expired, so it will not run; ask again if "
    "it is still needed.",
    "stale": "The estate changed after the rehearsal, so this plan will not run; a fresh "
    "rehearsal needs a fresh consent.",
}


def next_step(change: Change, tz: str = "UTC", now: datetime | None = None) -> str:
    """What happens (or happened) after the decision, in one sentence (a scheduled change's
    time in zone ``tz``)."""
    if change.state == "scheduled" and change.not_before is not None:
        at = when_text(change.not_before, now=now or utcnow(), tz=tz)
        return f"Approved; it waits for its time: not before {at}."
    if change.state in _NEXT:
        return _NEXT[change.state]
    msg = (change.result or {}).get("message")
    done = f"{change.ref} {state_words(change.state)}."
    return f"{done} {msg}" if msg and change.state != "reconciled" else done


def card_state(out: SlackOut, change: Change, *, thread_link: bool = True) -> CardState | None:
    """The current consent request of ``change`` as a :class:`CardState`, or ``None``.

    ``thread_link`` asks Slack for the request thread's permalink (one ``chat.getPermalink``)."""
    ops = out.oh.ops
    reqs = ops.consent.for_change(str(change.id))
    if not reqs:
        return None
    req = reqs[-1]
    votes = [
        (v.voter.user_id, v.vote, v.reason or "")
        for v in ops.consent.votes(req.id)
        if v.plan_hash == req.plan_hash
    ]
    return CardState(
        state=req.state,
        votes=votes,
        quorum=req.quorum,
        approvers=req.approvers,
        expires_at=req.expires_at,
        decided_by=req.decided_by or "",
        decided_at=req.decided_at,
        next_step="" if req.state == "open" else next_step(change, out.display_tz, ops.now()),
        thread_url=out.permalink(change.channel, change.thread_ts)
        if thread_link and change.channel and change.thread_ts
        else "",
        now=ops.now(),
        tz=out.display_tz,
    )


def cards_for(out: SlackOut, change_id: int, kind: str) -> list[tuple[str, str]]:
    """(channel, ts) of the bot's ``kind`` messages about a change."""
    with out.oh.engine.connect() as conn:
        q = select(cards_table.c.channel, cards_table.c.ts).where(
            cards_table.c.change_id == change_id, cards_table.c.kind == kind
        )
        return [(r.channel, r.ts) for r in conn.execute(q)]


def remember_card(out: SlackOut, change_id: int, kind: str, channel: str, ts: str) -> None:
    """Record a message to keep up to date."""
    with out.oh.engine.begin() as conn:
        conn.execute(
            cards_table.insert().values(change_id=change_id, kind=kind, channel=channel, ts=ts)
        )


def waiting_line(out: SlackOut, change: Change) -> str:
    """The one line a request's thread gets while its change waits: who must decide, and a
    link to the card (``chat.getPermalink`` of the card in the approvers' channel)."""
    card = card_state(out, change, thread_link=False)
    who = esc(card.approvers) if card is not None else "the approvers"
    need = ""
    if card is not None and card.quorum > 1:
        need = f" ({card.quorum} approvals needed)"
    posted = cards_for(out, change.id, "consent")
    url = out.permalink(*posted[0]) if posted else ""
    where = f" — {link(url, 'see the card')}" if url else ""
    when = ""
    if change.not_before is not None:  # the requester's thread: their own zone
        at = when_text(change.not_before, now=out.oh.ops.now(), tz=out.tz_of(change.requester))
        when = f"\nNot before {esc(at)}, once approved; `/opshand cancel {change.ref}` stops it."
    return (
        f":hourglass_flowing_sand: {change.ref} is waiting for consent from {who}{need}{where}"
        f"{when}"
    )


def _outcome_text(
    change: Change, card: CardState, tz: str = "UTC", now: datetime | None = None
) -> str:
    decider = card.decided_by.split(":")[-1]
    who = f" by {mention(decider)}" if ":" in card.decided_by else ""
    if card.state == "approved":
        return (
            f":white_check_mark: {change.ref} was approved{who}. {esc(next_step(change, tz, now))}"
        )
    if card.state == "expired":
        return f":hourglass: {change.ref} expired: nobody decided in time, so it will not run."
    if card.state == "rejected":
        reasons = [r for _, v, r in card.votes if v == "reject" and r]
        why = f" Reason: {esc(' '.join(reasons[-1].split()))}" if reasons else ""  # one line
        return f":no_entry_sign: {change.ref} was rejected{who}. It will not run.{why}"
    return f"{change.ref}: {esc(next_step(change, tz, now))}"


def register_consent(app: App, out: SlackOut) -> None:
    """Buttons, the reject modal, and the change-event subscriber that keeps cards current."""
    ops = out.oh.ops
    default_team = out.oh.settings.slack.team_id

    def vote(body: dict[str, Any], approve: bool, reason: str | None, payload_id: str) -> Any:
        action_value = (
            body["actions"][0]["value"] if "actions" in body else body["view"]["private_metadata"]
        )
        change_id, plan_hash = str(action_value).split("|")[:2]
        voter = identity_of(team_of(body, default_team), user_of(body))
        return ops.vote(
            int(change_id),
            voter,
            approve,
            plan_hash=plan_hash,
            payload_id=payload_id,
            reason=reason,
        )

    @app.action("consent_approve")
    def on_approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        action = body["actions"][0]
        # The click's identity (user, action_ts, card) is the same on Slack's retries and a
        # double click carries a second action_ts: the consent book counts either once.
        payload_id = f"{user_of(body)}:{action.get('action_ts', '')}:{action['value']}"
        result = vote(body, True, None, payload_id)
        if not result.accepted:
            respond(
                **out.clean({"text": result.message}),
                response_type="ephemeral",
                replace_original=False,
            )

    @app.action("consent_approve_window")
    def on_approve_window(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        action = body["actions"][0]
        payload_id = f"{user_of(body)}:{action.get('action_ts', '')}:{action['value']}"
        change_id, plan_hash = str(action["value"]).split("|")[:2]
        voter = identity_of(team_of(body, default_team), user_of(body))
        result = ops.approve_for_window(
            int(change_id), voter, plan_hash=plan_hash, payload_id=payload_id
        )
        change = ops.journal.get(int(change_id))
        if result.accepted and change.not_before is not None:
            at = when_text(change.not_before, now=ops.now(), tz=out.tz_of(user_of(body)))
            text = f"{change.ref} approved for the next window: not before {at}."
        else:
            text = esc(result.message)  # names twin entities: data
        respond(**out.clean({"text": text}), response_type="ephemeral", replace_original=False)

    @app.action(VIEW_PLAN)
    def on_view_plan(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        change = ops.journal.get(int(body["actions"][0]["value"]))
        view = out.oh.redactor.redact(plan_view(change))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action("consent_reject")
    def on_reject(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        action = body["actions"][0]
        channel = (body.get("channel") or {}).get("id", "")
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "reject_reason",
                "private_metadata": f"{action['value']}|{channel}",
                "title": {"type": "plain_text", "text": "Reject change"},
                "submit": {"type": "plain_text", "text": "Reject"},
                "close": {"type": "plain_text", "text": "Cancel"},
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "reason",
                        "label": {"type": "plain_text", "text": "Why?"},
                        "element": {
                            "type": "plain_text_input",
                            "action_id": "text",
                            "multiline": True,
                            "max_length": 500,
                        },
                    }
                ],
            },
        )

    @app.view("reject_reason")
    def on_reject_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = (view["state"]["values"]["reason"]["text"]["value"] or "").strip()
        if not reason:
            ack(response_action="errors", errors={"reason": "Please say why you reject it."})
            return
        ack()
        channel = str(view["private_metadata"]).split("|")[2]
        result = vote(body, False, reason, f"{user_of(body)}:{view['id']}")
        if not result.accepted and channel:
            out.ephemeral(channel, user_of(body), result.message)

    def refresh(change: Change) -> CardState | None:
        card = card_state(out, change)
        if card is None:
            return None
        shown = consent_card(change, card)
        for channel, ts in cards_for(out, change.id, "consent"):
            out.update(channel, ts, shown.text, shown.blocks, shown.attachments)
        return card

    def on_change(ev: ChangeEvent) -> None:
        change = ev.change
        if ev.kind == "decided" and ev.detail.get("outcome") == "consent":
            card = card_state(out, change)
            if card is None:
                return
            shown = consent_card(change, card)
            approvals = out.channel_id(out.oh.settings.slack.approvals_channel)
            ts = out.post(approvals, shown.text, shown.blocks, attachments=shown.attachments)
            remember_card(out, change.id, "consent", approvals, ts)
            if change.channel:  # one line in the request's thread, not a second card
                out.post(change.channel, waiting_line(out, change), None, change.thread_ts)
        elif ev.kind == "autonomy":
            # Guard-rail changes (breaker opened, break-glass used) are loud by design.
            if ev.detail.get("breaker") == "open":
                note = (
                    ":rotating_light: Circuit breaker open after repeated failures: every "
                    "change now needs consent until an admin resets it."
                )
            else:
                note = (
                    f":warning: Break-glass used by {person(change.requester)} for {change.ref}: "
                    f"{esc(ev.detail.get('breakglass', ''))}"
                )
            out.post(out.oh.settings.slack.approvals_channel, note)
        elif ev.kind in ("vote", "started", "finished", "expired", "stale"):
            # a vote redraws the quorum line; the run's start and end move the card on
            if not cards_for(out, change.id, "consent"):
                return
            card = refresh(change)
            settled = ev.kind in ("expired", "stale") or (
                ev.kind == "vote" and bool(getattr(ev.detail.get("outcome"), "changes", ()))
            )
            if card is not None and settled and card.state != "open":
                said = _outcome_text(change, card, out.tz_of(change.requester), ops.now())
                out.tell(change.requester, said, change.channel, change.thread_ts)

    ops.subscribers.append(on_change)
