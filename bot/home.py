"""The App Home tab: what this viewer should look at, and how much autonomy opshand has now.

Sections: changes waiting for the viewer's vote (they hold the approver role, did not ask for
the change and have not voted yet), scheduled changes coming up (in the viewer's zone), their
recent requests, recent actions by anyone, and the autonomy status (freeze, circuit breaker,
rate limit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.execution import Change
from agent.humantime import when_text
from agent.schedule import Upcoming
from agent.service import Operations
from bot.blocks import Block, ctx, header, limit_blocks, md, state_words
from bot.mrkdwn import esc, person
from bot.slack_tables import count_line

__all__ = ["coming_up_blocks", "home_view", "upcoming_line", "waiting_for"]

_RECENT = 5
_STATE_ICON = {
    "reconciled": ":white_check_mark:",
    "verified": ":white_check_mark:",
    "denied": ":no_entry:",
    "rejected": ":no_entry_sign:",
    "expired": ":hourglass:",
    "rolled_back": ":leftwards_arrow_with_hook:",
    "escalated": ":rotating_light:",
    "awaiting_consent": ":raised_hand:",
}


def waiting_for(ops: Operations, team: str, user: str) -> list[Change]:
    """Open consent requests this person may vote on and has not voted on yet."""
    roles = ops.roles.roles_for(team, user)
    out: list[Change] = []
    for change in ops.pending():
        reqs = ops.consent.for_change(str(change.id))
        if not reqs or reqs[-1].state != "open":
            continue
        req = reqs[-1]
        asked = req.requester.team_id == team and req.requester.user_id == user
        voted = any(
            v.voter.team_id == team and v.voter.user_id == user for v in ops.consent.votes(req.id)
        )
        if req.approvers in roles and not asked and not voted:
            out.append(change)
    return out


def _line(c: Change, now: datetime) -> str:
    icon = _STATE_ICON.get(c.state, ":small_blue_diamond:")
    names = ", ".join(esc(t.split(":", 1)[-1]) for t in c.targets[:3])
    more = f" +{len(c.targets) - 3}" if len(c.targets) > 3 else ""
    when = when_text(c.updated_at, now=now)
    return f"{icon} *{c.ref}* {esc(c.action)} on {names}{more} — {state_words(c.state)} ({when})"


def upcoming_line(u: Upcoming, tz: str, now: datetime) -> str:
    """One scheduled change: ref, action, targets, when (in ``tz``, named), who approved."""
    names = ", ".join(esc(t.split(":", 1)[-1]) for t in u.targets[:3])
    more = f" +{len(u.targets) - 3}" if len(u.targets) > 3 else ""
    who = ", ".join(
        person(a) if a != "policy" else "policy (no consent needed)" for a in u.approved_by
    )
    at = when_text(u.not_before, now=now, tz=tz)
    return (
        f":alarm_clock: *{esc(u.ref)}* {esc(u.action)} on {names}{more} — {esc(at)}"
        f" · approved by {who or 'nobody yet'}"
    )


def coming_up_blocks(items: list[Upcoming], tz: str, now: datetime) -> list[Block]:
    """The "Coming up" section: scheduled changes, soonest first."""
    blocks: list[Block] = [header(f"Coming up ({len(items)})")]
    if not items:
        return [*blocks, ctx("No scheduled changes.")]
    blocks.append(md("\n".join(upcoming_line(u, tz, now) for u in items[:10])))
    blocks.append(ctx("`/opshand cancel CR-n` cancels one (its requester or an approver)."))
    return blocks


def _autonomy(status: dict[str, Any]) -> Block:
    freeze = status.get("freeze")
    fields = [
        f"*Freeze*\n{'on — ' + esc(freeze) if freeze else 'off'}",
        "*Circuit breaker*\n"
        + ("open: every change needs consent" if status.get("breaker_open") else "closed"),
        f"*Auto actions this hour*\n{esc(status.get('auto_last_hour', 0))} of "
        f"{esc(status.get('auto_limit_per_hour', '?'))} allowed",
    ]
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}


def home_view(ops: Operations, team: str, user: str, tz: str = "UTC") -> dict[str, Any]:
    """The ``home`` view published for ``team:user`` (times in their zone ``tz``)."""
    blocks: list[Block] = [header("opshand"), _autonomy(ops.autonomy_status())]
    now = ops.now()
    waiting = waiting_for(ops, team, user)
    blocks.append(header(f"Waiting for your vote ({len(waiting)})"))
    if waiting:
        blocks.append(md("\n".join(_line(c, now) for c in waiting[:10])))
        if len(waiting) > 10:
            blocks.append(ctx(count_line(10, len(waiting), "changes")))
        blocks.append(ctx("Vote on the cards in the approvals channel."))
    else:
        blocks.append(ctx("Nothing needs your vote."))
    blocks.extend(coming_up_blocks(ops.coming_up(), tz, now))
    mine = ops.journal.list(requester=f"{team}:{user}", limit=_RECENT)
    blocks.append(header("Your recent requests"))
    blocks.append(md("\n".join(_line(c, now) for c in mine)) if mine else ctx("None yet."))
    recent = ops.journal.list(limit=_RECENT)
    blocks.append(header("Recent actions"))
    blocks.append(md("\n".join(_line(c, now) for c in recent)) if recent else ctx("None yet."))
    return {"type": "home", "blocks": limit_blocks(blocks)}
