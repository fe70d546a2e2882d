"""The offline model's parser: one human message in, one :class:`ParseResult` out.

It reads only the person's own text (never tool output, ticket bodies or other model input), and it
acts on one clear request: quoted or pasted material is set aside as data, and a message that asks
for two different things gets a question back instead of a guess (RELIABILITY A2).

Follow-ups ("and web-04 too?", "what about web-04") repeat the previous turn with the new target.
For a change that means a *new* proposal for the new target with the same action and parameters;
the earlier proposal is left as it is (it may already be approved or running, so changing its target
list would silently alter what someone consented to).
"""

from __future__ import annotations

import json
import re

from agent.offline.changes import (
    ACTION_KINDS,
    CHANGE_RULES,
    MULTI_TARGET_ACTIONS,
    comment_rule,
    propose,
)
from agent.offline.messages import HELP_TEXT, NOT_UNDERSTOOD, describe_unresolved, one_request_only
from agent.offline.queries import (
    QUERY_RULES_AFTER_CHANGES,
    QUERY_RULES_BEFORE_CHANGES,
    entity_reading,
)
from agent.offline.search import client_in, client_slug
from agent.offline.slots import Env, Reading, Targets, change_id, resolve_targets
from agent.offline.text import QUOTE_TOKEN, prepare, strip_politeness
from agent.offline.types import (
    ConversationContext,
    EntityResolver,
    Intent,
    ParseResult,
    ToolCall,
    Unresolved,
)

__all__ = ["parse"]

_FOLLOW_UP = re.compile(
    r"^(?:and\s+(?:also\s+)?(?:what\s+about\s+|how\s+about\s+)?(?:for\s+|on\s+|with\s+)?|"
    r"also\s+(?:for\s+|on\s+)?|what\s+about\s+|how\s+about\s+|same(?:\s+thing)?\s+(?:for|with|on)\s+|"
    r"(?:do\s+)?the\s+same\s+(?:for|with|on|to)\s+)(?P<e>.+?)(?:\s+(?:too|as\s+well|also))?$"
    r"|^(?P<e2>\S+(?:\s*(?:,|and)\s*\S+)*)\s+(?:too|as\s+well)$",
    re.I,
)
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", re.I)
_ENTITY_TOOLS = {
    "twin_show": Intent.SHOW,
    "twin_deps": Intent.DEPS,
    "twin_blast_radius": Intent.BLAST_RADIUS,
}


def parse(
    text: str, resolver: EntityResolver, *, context: ConversationContext | None = None
) -> ParseResult:
    """Read one chat message into tool calls, a question back, or the help text.

    Args:
        text: The person's message exactly as Slack delivered it (mentions and markup included).
        resolver: Resolves entity mentions against the twin.
        context: The previous turn, for follow-ups such as "and web-04 too?".

    Raises:
        TypeError: When ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the message text as a str, not {type(text).__name__}")
    prepared = prepare(text)
    request = QUOTE_TOKEN.sub("[quoted]", prepared.text).strip()
    env = Env(resolver=resolver, context=context, quoted=prepared.quoted, request=request)
    if not prepared.clauses:
        return ParseResult(intent=Intent.UNKNOWN, clarification=NOT_UNDERSTOOD)
    # A ticket comment's text is payload: read the whole message before splitting it into clauses.
    comment = comment_rule(strip_politeness(prepared.plain, anywhere=False), env, prepared.quoted)
    if comment is not None:
        return _finish(comment)
    readings = [r for r in (_read_clause(c, env) for c in prepared.clauses) if r is not None]
    if not readings:
        return ParseResult(intent=Intent.UNKNOWN, clarification=NOT_UNDERSTOOD)
    merged = _merge(readings)
    if len(merged) > 1:
        return ParseResult(
            intent=Intent.CLARIFY,
            clarification=one_request_only([r.label for r in merged]),
        )
    return _finish(merged[0])


def _read_clause(clause: str, env: Env) -> Reading | None:
    for rule in (*QUERY_RULES_BEFORE_CHANGES, *CHANGE_RULES):
        reading = rule(clause, env)
        if reading is not None:
            return reading
    follow = _FOLLOW_UP.match(clause)
    if follow is not None:
        phrase = follow.group("e") or follow.group("e2") or ""
        # "and reboot web-04 too" is a full request after the "and": read it as one.
        for rule in (*QUERY_RULES_BEFORE_CHANGES, *CHANGE_RULES):
            reading = rule(phrase, env)
            if reading is not None:
                return reading
        if env.context is not None and env.context.last_tool_calls:
            return _follow_up(phrase, clause, env)
        clause = phrase  # nothing to repeat: "what about web-04?" asks about web-04
    for rule in QUERY_RULES_AFTER_CHANGES:
        reading = rule(clause, env)
        if reading is not None:
            return reading
    return None


def _follow_up(phrase: str, clause: str, env: Env) -> Reading:
    assert env.context is not None
    template = env.context.last_tool_calls[0]
    tool, args = template.name, dict(template.args)
    if tool in _ENTITY_TOOLS:
        reading = entity_reading(env, _ENTITY_TOOLS[tool], tool, phrase)
    elif tool == "propose_change":
        action = str(args.get("action", ""))
        targets = resolve_targets(
            env, phrase, ACTION_KINDS.get(action), allow_tier=action in MULTI_TARGET_ACTIONS
        )
        reading = propose(env, action, targets, dict(args.get("params", {})), clause)
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


def _merge_key(reading: Reading) -> str:
    params = [c.args.get("params") for c in reading.calls if c.name == "propose_change"]
    return json.dumps([reading.intent, reading.action, params[:1]], sort_keys=True, default=str)


def _merge(readings: list[Reading]) -> list[Reading]:
    """Fold readings that ask for the same thing ("reboot a. reboot b") into one."""
    merged: dict[str, Reading] = {}
    for reading in readings:
        key = _merge_key(reading)
        first = merged.get(key)
        if first is None:
            merged[key] = reading
            continue
        first.unresolved += reading.unresolved
        first.notes += reading.notes
        first.clarification = first.clarification or reading.clarification
        if first.calls and reading.calls and first.calls[0].name == "propose_change":
            call = first.calls[0]
            targets = list(call.args["targets"])
            targets += [t for t in reading.calls[0].args["targets"] if t not in targets]
            first.calls = [ToolCall(name=call.name, args={**call.args, "targets": targets})]
        else:
            first.calls += [c for c in reading.calls if c not in first.calls]
    return list(merged.values())


def _finish(reading: Reading) -> ParseResult:
    if reading.intent is Intent.HELP:
        return ParseResult(intent=Intent.HELP, reply=HELP_TEXT)
    if reading.unresolved:
        return ParseResult(
            intent=reading.intent,
            unresolved=reading.unresolved,
            clarification=" ".join(describe_unresolved(u) for u in reading.unresolved),
        )
    if reading.clarification:
        return ParseResult(intent=reading.intent, clarification=reading.clarification)
    if not reading.calls:
        return ParseResult(intent=Intent.UNKNOWN, clarification=NOT_UNDERSTOOD)
    return ParseResult(intent=reading.intent, tool_calls=reading.calls, notes=reading.notes)
