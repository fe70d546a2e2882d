"""What every change rule shares: the kinds each action targets, and building the proposal.

A change is only ever *proposed*: rehearsal and policy decide what happens next. Every target must
resolve to exactly one entity of a kind the action accepts; otherwise the reading carries the
unresolved mentions and no call at all (never a partial target list).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agent.chat.offline.slots import HOST_KINDS, Env, Reading, Targets
from agent.chat.offline.types import Intent, ToolCall
from agent.chat.offline.when import WhenError, parse_when
from twin.model import utcnow

__all__ = [
    "ACTION_KINDS",
    "MULTI_TARGET_ACTIONS",
    "Rule",
    "propose",
    "short_id",
    "strip_trailers",
]

_I = re.I

Rule = Callable[[str, Env], Reading | None]
"""One grammar rule: a clause in, a reading or ``None`` (not mine) out."""

ACTION_KINDS: dict[str, set[str]] = {
    "host.reboot": HOST_KINDS,
    "patch.apply": HOST_KINDS,
    "service.restart": {"service"},
    "credential.rotate": {"credential"},
    "identity.disable": {"identity"},
    "identity.revoke_sessions": {"identity"},
    "backup.restore": {"host", "service"},
    "firewall.rule.add": {"firewall"},
    "siem.rule.throttle": {"siem_rule"},
    "ticket.escalate": {"ticket", "incident"},
    "ticket.close": {"ticket", "incident"},
    "ticket.comment": {"ticket", "incident"},
    "script.run": HOST_KINDS,
}
"""The entity kinds each action may target."""

MULTI_TARGET_ACTIONS = {"host.reboot", "patch.apply", "script.run", "service.restart"}
"""Actions one proposal may apply to several targets (the executor runs them in waves)."""
_REASON_LIMIT = 300

# Words at the end of a target phrase that are about *how* or *when*, not *what*.
_TRAILERS = re.compile(
    r"(?:\s+(?:tonight|now|right\s+now|right\s+away|immediately|asap|this\s+evening|overnight|"
    r"after\s+hours|(?:in|during)\s+(?:the\s+)?(?:next\s+)?(?:maintenance|change)?\s*window|"
    r"(?:in|during)\s+maintenance|with(?:out)?\s+(?:an?\s+)?reboot(?:ing)?|(?:and\s+)?no\s+reboot|"
    r"(?:with|using)\s+KB\S+(?:\s*(?:,|and)\s*KB\S+)*|"
    r"for\s+(?:the\s+next\s+)?(?:\d+(?:\.\d+)?|an?|one|two|three|four|six|twelve)\s*"
    r"(?:m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)|"
    r"(?:(?:on\s+)?(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+)?(?:at|after|from)\s+\d{1,2}"
    r"(?::\d{2})?\s*(?:[ap]\.?m\.?)?(?:\s+(?:on\s+)?(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*|"
    r"tomorrow|today))?|tomorrow|"
    r"please|again|too|as\s+well))+$",
    _I,
)


def _reason(env: Env) -> str:
    text = env.request if len(env.request) <= _REASON_LIMIT else env.request[:_REASON_LIMIT] + "…"
    return f"Requested in chat: {text}"


def short_id(entity_id: str) -> str:
    """``host:web-01`` -> ``web-01``, for messages."""
    return entity_id.split(":", 1)[-1]


def strip_trailers(phrase: str) -> str:
    """Drop "tonight", "for 2 hours", "with a reboot" and such from the end of a target phrase."""
    return _TRAILERS.sub("", phrase.strip(" ,.;:!?")).strip(" ,.;:!?")


def propose(
    env: Env,
    action: str,
    targets: Targets,
    params: dict[str, Any],
    label: str,
    *,
    reason: str | None = None,
    carried: dict[str, Any] | None = None,
) -> Reading:
    """The reading for ``action`` on resolved ``targets``; no call if any target failed.

    ``reason`` defaults to the request's own words (see :func:`_reason`). The time the request
    asks for becomes ``not_before`` (or ``window: next``); a follow-up that names no time keeps
    the one of the call it continues (``carried``).
    """
    reason = reason or _reason(env)
    when: dict[str, Any] = {}
    try:
        asked = parse_when(env.request, now=env.now or utcnow(), tz=env.tz)
    except WhenError as exc:
        return Reading(
            intent=Intent.PROPOSE_CHANGE,
            clarification=f"When should it run? {exc}.",
            label=label,
            action=action,
        )
    if asked.not_before is not None:
        when["not_before"] = asked.not_before.isoformat()
    elif asked.window:
        when["window"] = "next"
    elif carried and not asked.phrase:
        when = {k: carried[k] for k in ("not_before", "window") if k in carried}
    reading = Reading(
        intent=Intent.PROPOSE_CHANGE,
        unresolved=list(targets.unresolved),
        notes=list(targets.notes),
        label=label,
        action=action,
    )
    if targets.too_many is not None and not targets.unresolved:
        reading.clarification = targets.too_many
    elif not targets.unresolved and len(targets.ids) > 1 and action not in MULTI_TARGET_ACTIONS:
        reading.clarification = (
            f"{action} acts on one target at a time, and this names {len(targets.ids)} "
            f"({', '.join(short_id(t) for t in targets.ids)}). Which one first?"
        )
    elif not targets.unresolved and targets.ids:
        reading.calls = [
            ToolCall(
                name="propose_change",
                args={
                    "action": action,
                    "targets": list(targets.ids),
                    "params": params,
                    "reason": reason,
                    **when,
                },
            )
        ]
    elif not targets.unresolved:
        reading.clarification = "Which one do you mean? I could not tell what to act on."
    if targets.unresolved:
        partial = {
            "action": action,
            "targets": list(targets.ids),
            "params": params,
            "reason": reason,
            **when,
        }
        reading.pending = ToolCall(name="propose_change", args=partial)
    return reading
