"""Follow-ups: "and web-04 too?", "what about fabrikam?", and answers to "which one?".

A follow-up repeats the previous turn's first tool call with a new subject. For a change that is
a *new* proposal for the new target with the same action and parameters; the earlier proposal is
left alone (it may already be approved or running, and widening it would silently change what
someone consented to). An answer to "which one did you mean?" completes the pending call instead.
"""

from __future__ import annotations

import re
from dataclasses import replace

from agent.chat.offline.proposal import ACTION_KINDS, MULTI_TARGET_ACTIONS, propose
from agent.chat.offline.queries import entity_reading
from agent.chat.offline.search import client_in, client_slug
from agent.chat.offline.slots import Env, Reading, Targets, change_id, resolve_targets
from agent.chat.offline.types import Intent, ToolCall, Unresolved
from agent.chat.offline.when import answers_when

__all__ = ["ENTITY_TOOLS", "answer_pending", "answer_when", "follow_up", "follow_up_phrase"]

_FOLLOW_UP = re.compile(
    r"^(?:and\s+(?:also\s+)?(?:what\s+about\s+|how\s+about\s+)?(?:for\s+|on\s+|with\s+)?|"
    r"also\s+(?:for\s+|on\s+)?|what\s+about\s+|how\s+about\s+|same(?:\s+thing)?\s+(?:for|with|on)\s+|"
    r"(?:do\s+)?the\s+same\s+(?:for|with|on|to)\s+)(?P<e>.+?)(?:\s+(?:too|as\s+well|also))?$"
    r"|^(?P<e2>\S+(?:\s*(?:,|and)\s*\S+)*)\s+(?:too|as\s+well)$",
    re.I,
)
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", re.I)
ENTITY_TOOLS = {
    "twin_show": Intent.SHOW,
    "twin_deps": Intent.DEPS,
    "twin_blast_radius": Intent.BLAST_RADIUS,
}
"""Tools whose only argument is one entity, and the intent each answers."""
_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2}
_ANSWER = re.compile(
    r"^(?:(?:i\s+meant?|meant?|yes|yeah|yep|sorry|oh|err|um|no|nope|ok|okay)\b[,:\s]*)*"
    r"(?P<a>.+)$",
    re.I,
)
_ORDINAL = re.compile(
    r"^(?:the\s+)?(?:#\s*)?(?P<n>first|1st|second|2nd|third|3rd|[1-9])(?:\s+one)?$", re.I
)


def follow_up_phrase(clause: str) -> str | None:
    """The new subject of a follow-up clause ("web-04" in "and web-04 too?"), if it is one."""
    match = _FOLLOW_UP.match(clause)
    if match is None:
        return None
    return match.group("e") or match.group("e2") or None


def answer_pending(clause: str, env: Env) -> Reading | None:
    """Complete the previous turn's pending call when ``clause`` answers its "which one?".

    The answer is an entity mention, or an ordinal ("the second one") into the candidates that
    were offered. Anything else returns ``None`` (the person moved on to something new).
    """
    context = env.context
    if context is None or context.pending is None:
        return None
    phrase = _ANSWER.match(clause.strip())
    text = phrase.group("a") if phrase else clause
    pending = context.pending
    kinds = (
        ACTION_KINDS.get(str(pending.args.get("action")))
        if pending.name == "propose_change"
        else None
    )
    ordinal = _ORDINAL.match(text.strip())
    if ordinal:
        raw = ordinal.group("n").lower()
        index = _ORDINALS.get(raw, int(raw) - 1 if raw.isdigit() else 0)
        if index >= len(context.candidates):
            return None
        targets = Targets(ids=[context.candidates[index].id])
    else:
        targets = resolve_targets(env, text, kinds)
        if not targets.ids:
            return None
    if pending.name == "propose_change":
        args = dict(pending.args)
        ids = list(args.get("targets", [])) + [
            t for t in targets.ids if t not in args.get("targets", [])
        ]
        reading = propose(
            env,
            str(args.get("action")),
            Targets(ids=ids, unresolved=targets.unresolved, notes=targets.notes),
            dict(args.get("params", {})),
            clause,
            reason=str(args["reason"]) if args.get("reason") else None,
            carried=args,
        )
    elif pending.name in ENTITY_TOOLS:
        reading = Reading(
            intent=ENTITY_TOOLS[pending.name],
            calls=[ToolCall(name=pending.name, args={"entity": i}) for i in targets.ids],
            unresolved=targets.unresolved,
            notes=targets.notes,
        )
    else:
        return None
    reading.label = clause
    return reading


def answer_when(text: str, env: Env) -> Reading | None:
    """Propose the call that the previous turn left waiting on "now or in the next window?",
    with the time ``text`` answers ("now", "in the next window", "tonight"). ``None`` when there
    is no such question or ``text`` says more than a time."""
    asked = env.context.when_asked if env.context is not None else None
    said = answers_when(text)
    if asked is None or said is None:
        return None
    args = dict(asked.args)
    reading = propose(
        replace(env, request=said),
        str(args.get("action")),
        Targets(ids=[str(t) for t in args.get("targets") or []]),
        dict(args.get("params") or {}),
        text,
        reason=str(args["reason"]) if args.get("reason") else None,
    )
    reading.label = text
    return reading


def follow_up(phrase: str, clause: str, env: Env) -> Reading:
    """Repeat the previous turn's first tool call with ``phrase`` as its new subject."""
    if env.context is None or not env.context.last_tool_calls:
        raise ValueError("follow_up() needs a context with a previous tool call")
    template = env.context.last_tool_calls[0]
    tool, args = template.name, dict(template.args)
    if tool in ENTITY_TOOLS:
        reading = entity_reading(env, ENTITY_TOOLS[tool], tool, phrase)
    elif tool == "propose_change":
        action = str(args.get("action", ""))
        targets = resolve_targets(
            env, phrase, ACTION_KINDS.get(action), allow_tier=action in MULTI_TARGET_ACTIONS
        )
        reading = propose(env, action, targets, dict(args.get("params", {})), clause, carried=args)
    elif tool in ("change_status", "change_why") and change_id(phrase):
        intent = Intent.CHANGE_WHY if tool == "change_why" else Intent.CHANGE_STATUS
        reading = Reading(
            intent=intent, calls=[ToolCall(name=tool, args={"change_id": change_id(phrase)})]
        )
    elif tool == "twin_search":
        reading = _follow_up_search(phrase, args, env)
    elif tool == "twin_stale":
        client = client_in(env, phrase)
        targets = resolve_targets(env, phrase, None) if client is None else Targets()
        scope = client or (targets.ids[0] if targets.ids else None)
        reading = Reading(intent=Intent.STALE, unresolved=targets.unresolved)
        if scope:
            reading.calls = [ToolCall(name=tool, args={**args, "scope": scope})]
    else:
        reading = Reading(
            intent=Intent.CLARIFY,
            clarification=f"I am not sure how `{phrase}` changes the previous request. "
            "Could you ask it as a full sentence?",
        )
    reading.label = clause
    return reading


def _follow_up_search(phrase: str, args: dict[str, object], env: Env) -> Reading:
    kb = _KB.search(phrase)
    client = client_in(env, phrase)
    if kb:
        args["missing_patch"] = f"KB{kb.group(1)}"
    elif client:
        args["client"] = client_slug(client)
    else:
        return Reading(
            intent=Intent.SEARCH,
            unresolved=[Unresolved(mention=phrase, kinds=["client"])],
        )
    return Reading(intent=Intent.SEARCH, calls=[ToolCall(name="twin_search", args=args)])
