"""``/opshand breakglass <reason> -- <action> <target> [<target> ...] [key=value ...]``.

Break-glass acts during a change freeze. It is deliberately not a conversation: no model reads
the request, the action is a catalog id and every target is named exactly (no fuzzy match), so
what runs is what the person typed. It needs the ``breakglass`` permission and a reason; policy
still decides (every rule but the freeze applies, so consent may still be asked), the checks
before every wave and call let it through the freeze only while its requester keeps the
permission, and it is loud: announced in the channel it was asked in (the change's thread, where
its result follows), announced in the approvals channel, and audited with the change's id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agent.service import ChangeRequest, identity_of
from bot.blocks import decision_blocks, md
from bot.listeners._shared import SlackOut, team_of
from bot.listeners.consent import waiting_line
from bot.mrkdwn import esc, mention
from twin import TwinGraph, UnknownEntity
from twin.actions import CATALOG

__all__ = ["USAGE", "BreakGlassRequest", "break_glass", "parse_break_glass"]

log = logging.getLogger(__name__)

USAGE = (
    "Usage: `/opshand breakglass <reason> -- <action> <target> [<target> ...] [key=value ...]`, "
    "e.g. `/opshand breakglass portal down for every client -- service.restart contoso-dev-app`."
)


class BreakGlassError(ValueError):
    """The command could not be understood; the message says what was wrong."""


@dataclass(frozen=True)
class BreakGlassRequest:
    """What the command asked for."""

    reason: str
    action: str
    targets: list[str]
    params: dict[str, Any]


def parse_break_glass(text: str, graph: TwinGraph) -> BreakGlassRequest:
    """Parse the text after ``breakglass``; raises :class:`BreakGlassError` naming the problem."""
    reason, sep, request = text.partition("--")
    reason, words = reason.strip(), request.split()
    if not sep or not reason:
        raise BreakGlassError("Break-glass needs a reason, then `--`, then the change. " + USAGE)
    if not words:
        raise BreakGlassError("Break-glass needs the change after `--`. " + USAGE)
    action, rest = words[0], words[1:]
    if action not in CATALOG:
        raise BreakGlassError(
            f"`{action[:60]}` is not an action; use one of: {', '.join(sorted(CATALOG))}."
        )
    targets: list[str] = []
    params: dict[str, Any] = {}
    for word in rest:
        if "=" in word:
            key, _, raw = word.partition("=")
            params[key] = _value(raw)
            continue
        name = word.strip(",")
        try:
            entity = graph.resolve(name)
        except UnknownEntity as exc:
            raise BreakGlassError(str(exc).strip("'\"")) from exc
        if name not in (entity.id, entity.name) and name.lower() != entity.name.lower():
            raise BreakGlassError(
                f"`{name[:60]}` is not exactly a target; did you mean `{entity.name}`? "
                "Break-glass acts only on targets named exactly."
            )
        if entity.id not in targets:
            targets.append(entity.id)
    if not targets:
        raise BreakGlassError("Break-glass needs at least one target. " + USAGE)
    return BreakGlassRequest(reason, action, targets, params)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def break_glass(
    out: SlackOut, body: dict[str, Any], text: str, respond: Callable[..., Any]
) -> None:
    """Run the command after its ack: announce, propose, tell the channel what policy said."""
    ops = out.oh.ops
    user = str(body["user_id"])
    requester = identity_of(team_of(body, out.oh.settings.slack.team_id), user)
    channel = str(body.get("channel_id") or "")
    try:
        req = parse_break_glass(text, ops.graph)
    except BreakGlassError as exc:
        respond(text=esc(str(exc)), response_type="ephemeral")
        return
    change = ChangeRequest(
        action=req.action,
        targets=req.targets,
        params=req.params,
        reason=f"break-glass: {req.reason}"[:300],
        requester=requester,
        channel=channel,
        break_glass=req.reason,
        request_key=f"slack:breakglass:{body.get('trigger_id', '')}"
        if body.get("trigger_id")
        else None,
    )
    refusal = ops.break_glass_refusal(requester, req.reason)
    if refusal is None and channel:
        # Announced before anything is decided: the change's thread starts here.
        ts = out.post(
            channel,
            f":rotating_light: Break-glass by {mention(user)}: {esc(req.action)} on "
            f"{esc(', '.join(t.split(':', 1)[-1] for t in req.targets))}. "
            f"Reason: {esc(req.reason)}",
        )
        change = replace(change, thread_ts=ts)
    res = ops.propose(change)  # a refusal is recorded (audited) here too
    if res.change is None:
        respond(text=esc(res.message), response_type="ephemeral")
        return
    fresh = ops.journal.get(res.change.id)
    waiting = fresh.state == "awaiting_consent"
    blocks = (
        [md(waiting_line(out, fresh))] if waiting else decision_blocks(fresh, tz=out.display_tz)
    )
    text_out = f"{res.change.ref}: {esc(res.message)}"
    if channel and change.thread_ts:
        if waiting:
            return  # the consent listener put the line with the card's link in this thread
        out.post(channel, text_out, blocks, change.thread_ts)
    else:
        respond(text=text_out, blocks=blocks, response_type="in_channel")
