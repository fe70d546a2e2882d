"""Consent cards: one message per change in the approvers' channel, kept current for its life.

The card's header, colour and icon follow where the change stands (:data:`LOOKS`): waiting,
approved, rejected, expired, stale, scheduled, running, done, failed; the decision line says
who decided and when; the quorum line is redrawn after every vote. Block Kit has no colour,
so the body travels in one legacy attachment with a ``color`` that wraps its blocks
(``chat.postMessage`` and ``chat.update`` take ``attachments=[{"color": ..., "blocks": ...}]``);
the header stays a top-level block, so the fallback ``text`` is not shown above the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.execution import Change
from agent.humantime import expires_text, when_text
from agent.schedule import window_flagged
from bot.blocks import Block, ctx, cut, header, limit_blocks, md, plan_lines, reason_bullets
from bot.blocks import rule_ids as rule_ids_text
from bot.mrkdwn import esc, link, mention, person
from bot.plan_view import VIEW_PLAN, critical_collateral
from twin import utcnow

__all__ = [
    "LOOKS",
    "Card",
    "CardState",
    "Look",
    "card_status",
    "consent_actions",
    "consent_card",
    "drift_lines",
    "when_line",
    "window_button",
]


@dataclass(frozen=True)
class Look:
    """How a card in one state looks: its icon, its word, its colour bar."""

    icon: str
    word: str
    color: str


LOOKS: dict[str, Look] = {
    "waiting": Look(":hourglass_flowing_sand:", "Consent needed", "#ECB22E"),
    "approved": Look(":white_check_mark:", "Approved", "#2EB67D"),
    "rejected": Look(":no_entry_sign:", "Rejected", "#E01E5A"),
    "expired": Look(":hourglass:", "Expired", "#868686"),
    "stale": Look(":warning:", "Outdated", "#868686"),
    "scheduled": Look(":alarm_clock:", "Scheduled", "#1D9BD1"),
    "running": Look(":arrows_counterclockwise:", "Running", "#36C5F0"),
    "done": Look(":white_check_mark:", "Done", "#2EB67D"),
    "failed": Look(":x:", "Failed", "#E01E5A"),
}
"""The card's look per lifecycle state."""

_AFTER_APPROVAL = {
    "approved": "approved",
    "queued": "approved",
    "scheduled": "scheduled",
    "executing": "running",
    "succeeded": "running",  # reconciliation still to come
    "reconciled": "done",
    "failed": "failed",
    "rolled_back": "failed",
    "escalated": "failed",
    "unknown": "failed",
    "stale": "stale",
    "denied": "stale",
}
_DECIDED = {
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired",
    "stale": "Outdated",
}


def card_status(change_state: str, request_state: str) -> str:
    """Where the card stands: the consent request's state until approved, then the change's."""
    if request_state == "open":
        return "waiting"
    if request_state != "approved":
        return request_state if request_state in LOOKS else "stale"
    return _AFTER_APPROVAL.get(change_state, "approved")


@dataclass(frozen=True, kw_only=True)
class CardState:
    """Where a consent request stands, for rendering its card."""

    state: str
    """The consent request's: ``open``, ``approved``, ``rejected``, ``expired`` or ``stale``."""
    votes: Sequence[tuple[str, str, str]]
    """(user id, ``approve``/``reject``, reason) of votes on the current plan hash."""
    quorum: int
    approvers: str
    expires_at: datetime
    decided_by: str = ""
    """``team:user`` (or ``system:...``) who closed the request."""
    decided_at: datetime | None = None
    next_step: str = ""
    """What happens next (or happened), once decided."""
    thread_url: str = ""
    """Permalink of the request's thread, when there is one."""
    now: datetime = field(default_factory=utcnow)
    tz: str = "UTC"
    """The zone times are shown in."""


@dataclass(frozen=True)
class Card:
    """A card as one message: fallback text, the header block, the coloured body."""

    text: str
    blocks: list[Block]
    attachments: list[dict[str, Any]]
    status: str

    @property
    def all_blocks(self) -> list[Block]:
        """The header and the body's blocks, in reading order."""
        body: list[Block] = [b for a in self.attachments for b in a.get("blocks", [])]
        return [*self.blocks, *body]


def _confirm_critical(change: Change) -> dict[str, Any] | None:
    """Slack's ``confirm`` dialog for Approve when critical systems are collateral."""
    crit = critical_collateral(change.plan or {})
    if not crit:
        return None
    names = ", ".join(str(a.get("name", "?")) for a in crit[:5])
    more = f" and {len(crit) - 5} more" if len(crit) > 5 else ""
    text = (
        f"Approving {change.ref} also affects {len(crit)} critical "
        f"system{'s' if len(crit) > 1 else ''} it does not target: {names}{more}."
    )
    return {
        "title": {"type": "plain_text", "text": "Critical systems affected"},
        # plain_text: estate names shown as written, never parsed as markup
        "text": {"type": "plain_text", "text": cut(text, 300)},
        "confirm": {"type": "plain_text", "text": "Approve anyway"},
        "deny": {"type": "plain_text", "text": "Back"},
        "style": "danger",
    }


def consent_actions(change: Change) -> Block:
    """The card's buttons while it waits: the one place the actions row is built.

    Approve (primary; asks first when critical systems are collateral), Reject (danger),
    View plan (the whole plan in a modal).
    """
    value = f"{change.id}|{change.plan_hash}"
    approve: dict[str, Any] = {
        "type": "button",
        "action_id": "consent_approve",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Approve"},
        "value": value,
    }
    if (confirm := _confirm_critical(change)) is not None:
        approve["confirm"] = confirm
    reject = {
        "type": "button",
        "action_id": "consent_reject",
        "style": "danger",
        "text": {"type": "plain_text", "text": "Reject"},
        "value": value,
    }
    view = {
        "type": "button",
        "action_id": VIEW_PLAN,
        "text": {"type": "plain_text", "text": "View plan"},
        "value": str(change.id),
    }
    return {
        "type": "actions",
        "block_id": f"consent:{change.id}",
        "elements": [approve, *window_button(change), reject, view],
    }


def _tally(card: CardState) -> str:
    approvals = sum(1 for v in card.votes if v[1] == "approve")
    votes = ", ".join(
        f"{mention(u)} {'approved' if v == 'approve' else 'rejected'}"
        + (f" ({esc(r)})" if r else "")
        for u, v, r in card.votes
    )
    line = f"Quorum {approvals}/{card.quorum} of {esc(card.approvers)} · {votes or 'no votes yet'}"
    if card.state == "open":
        line += f" · {expires_text(card.expires_at, now=card.now)}"
    return line


def _decision_line(change: Change, card: CardState) -> str:
    look = LOOKS.get(card.state, LOOKS["stale"])  # the decision's icon, not the run's
    who = f" by {person(card.decided_by)}" if card.decided_by else ""
    at = when_text(card.decided_at, now=card.now, tz=card.tz) if card.decided_at else ""
    word = _DECIDED.get(card.state, card.state.capitalize())
    line = f"{look.icon} *{word}{who}*" + (f" · {esc(at)}" if at else "") + "."
    step = card.next_step
    if change.state == "scheduled" and change.not_before is not None:
        step = (
            f"It waits for its time: runs {when_text(change.not_before, now=card.now, tz=card.tz)}."
        )
    return f"{line} {esc(step)}".strip()


def consent_card(change: Change, card: CardState) -> Card:
    """The approver's card: what, why, blast radius, quorum, expiry; buttons only while open."""
    plan = change.plan or {}
    dec = change.decision or {}
    status = card_status(change.state, card.state)
    look = LOOKS[status]
    title = f"{look.word}: {change.ref} {plan.get('action', change.action)}"
    where = f" in {link(card.thread_url, 'the request thread')}" if card.thread_url else ""
    body: list[Block] = [
        md(
            f"*Requested by* {person(change.requester)}{where} — "
            f"_{esc(cut(change.reason or 'no reason given', 500))}_"
        )
    ]
    if card.state != "open":
        body.append(md(_decision_line(change, card)))
    body.extend(plan_lines(plan))
    body.append(
        md(f"*Why consent:*\n{reason_bullets(dec) or 'policy default (no rule allowed it)'}")
    )
    body.extend(drift_lines(dec))
    if card.state == "open":
        body.extend(when_line(change, card.tz, card.now))
    if rule_ids_text(dec):
        body.append(ctx(f"Policy{rule_ids_text(dec)}"))
    body.append(ctx(_tally(card)))
    if card.state == "open":
        body.append(consent_actions(change))
    head = header(f"{look.icon} {title}")
    head["text"]["emoji"] = True
    # text and fallback are parsed as mrkdwn (notifications): escaped; the header is plain_text
    attachment = {"color": look.color, "fallback": esc(title), "blocks": limit_blocks(body)}
    return Card(text=esc(title), blocks=[head], attachments=[attachment], status=status)


def when_line(change: Change, tz: str, now: datetime) -> list[Block]:
    """When a change with a ``not_before`` runs once approved, in zone ``tz``."""
    if change.not_before is None:
        return []
    at = when_text(change.not_before, now=now, tz=tz)
    return [md(f":alarm_clock: *Runs not before {esc(at)}* once approved")]


def window_button(change: Change) -> list[Block]:
    """ "Approve for the next window" beside Approve, on a card the change-window check flagged
    (the change is approved and held until its targets' window next opens)."""
    if not window_flagged(change.plan):
        return []
    return [
        {
            "type": "button",
            "action_id": "consent_approve_window",
            "text": {"type": "plain_text", "text": "Approve for the next window"},
            "value": f"{change.id}|{change.plan_hash}",
        }
    ]


def drift_lines(dec: dict[str, Any]) -> list[Block]:
    """What changed between approval and a scheduled change's start, when it drifted."""
    drift = [str(d) for d in dec.get("drift") or []]
    if not drift:
        return []
    lines = "\n".join(f"• {esc(cut(d, 250))}" for d in drift[:10])
    more = f"\n… and {len(drift) - 10} more" if len(drift) > 10 else ""
    return [md(f"*Changed since it was approved:*\n{lines}{more}")]
