"""The offline model's parser: one human message in, one :class:`ParseResult` out.

It reads only the person's own text (never tool output, ticket bodies or other model input), and it
acts on one clear request: quoted or pasted material is set aside as data, and a message that asks
for two different things gets a question back instead of a guess (RELIABILITY A2).

Follow-ups ("and web-04 too?") and answers to "which one did you mean?" are read against the
previous turn's :class:`ConversationContext`; see :mod:`agent.chat.offline.followup`.
"""

from __future__ import annotations

import json
from datetime import datetime

from agent.chat.intent import read_intent
from agent.chat.offline.aspects import ASPECT_RULES
from agent.chat.offline.changes import CHANGE_RULES
from agent.chat.offline.desk import comment_rule
from agent.chat.offline.followup import (
    answer_pending,
    answer_when,
    follow_up,
    follow_up_phrase,
)
from agent.chat.offline.messages import (
    HELP_TEXT,
    NOT_UNDERSTOOD,
    describe_unresolved,
    one_request_only,
)
from agent.chat.offline.proposal import MULTI_TARGET_ACTIONS
from agent.chat.offline.queries import QUERY_RULES_AFTER_CHANGES, QUERY_RULES_BEFORE_CHANGES
from agent.chat.offline.slots import Env, Reading
from agent.chat.offline.subject import SUBJECT_RULES, with_subject
from agent.chat.offline.text import QUOTE_TOKEN, prepare, strip_politeness
from agent.chat.offline.types import (
    ConversationContext,
    EntityResolver,
    Intent,
    ParseResult,
    ToolCall,
)
from agent.chat.siblings import expand_siblings

__all__ = ["MAX_REQUEST_CHARS", "parse"]

MAX_REQUEST_CHARS = 2000
"""Longest request (outside quoted material) the parser reads; longer ones get a question."""


def parse(
    text: str,
    resolver: EntityResolver,
    *,
    context: ConversationContext | None = None,
    now: datetime | None = None,
    tz: str = "UTC",
) -> ParseResult:
    """Read one chat message into tool calls, a question back, or the help text.

    Args:
        text: The person's message exactly as Slack delivered it (mentions and markup included).
        resolver: Resolves entity mentions against the twin.
        context: The previous turn, for follow-ups such as "and web-04 too?".
        now: When the message was read (aware UTC; the wall clock when omitted): "tonight"
            and "at 02:00" become a ``not_before`` from it.
        tz: The requester's time zone, for those times.

    Raises:
        TypeError: When ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the message text as a str, not {type(text).__name__}")
    # "web-prod-01 and -02": the sibling, written out as the guard's named set reads it too.
    # A "-02" with no name before it: the sibling of the previous turn's entity (never of a CR).
    entities = [t for t in (context.last_targets if context else []) if ":" in t]
    before = entities[0].split(":", 1)[1] if entities else None
    prepared = prepare(
        expand_siblings(text, before), is_name=lambda w: _names_something(w, resolver)
    )
    request = QUOTE_TOKEN.sub("[quoted]", prepared.text).strip()
    env = Env(
        resolver=resolver,
        context=context,
        quoted=prepared.quoted,
        request=request,
        now=now,
        tz=tz,
    )
    if not prepared.clauses:
        return ParseResult(intent=Intent.UNKNOWN, clarification=NOT_UNDERSTOOD)
    if len(prepared.text) > MAX_REQUEST_CHARS:
        return ParseResult(
            intent=Intent.CLARIFY,
            clarification=f"That request is {len(prepared.text)} characters long; I act on short, "
            f"clear requests (up to {MAX_REQUEST_CHARS}). Ask for one thing in a sentence or two, "
            "and put pasted logs in a code block.",
        )
    # "now" / "in the next window": the answer to the previous turn's "when?" question.
    when = answer_when(request, env)
    if when is not None:
        return _finish(when)
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
    return _asked_for(_finish(merged[0]), text, context)


def _asked_for(result: ParseResult, text: str, context: ConversationContext | None) -> ParseResult:
    """Keep a proposal only when the message asks for it (the guard's own intent reader).

    A question, conditional, negation or pasted text proposes nothing, whatever grammar rule
    matched; a follow-up or an answer to "which one?" carries the thread's request over.
    """
    proposals = [c for c in result.tool_calls if c.name == "propose_change"]
    if not proposals:
        return result
    reading = read_intent(text)
    if context is not None and (reading.follow_up or context.pending is not None):
        return result
    refused = [
        str(c.args.get("action", ""))
        for c in proposals
        if not reading.authorises(str(c.args.get("action", "")))
    ]
    if not refused:
        return result
    return ParseResult(
        intent=Intent.CLARIFY,
        clarification=f"I read that as a {reading.mood}, not a request, so I will not propose "
        f"`{refused[0]}`. If you want it, ask for it plainly (for example “reboot <host>”).",
    )


def _names_something(word: str, resolver: EntityResolver) -> bool:
    # A word that is (part of) an entity's name is never taken for a mistyped function word.
    return resolver.resolve(word, None).match in ("id", "name", "partial")


def _read_clause(clause: str, env: Env) -> Reading | None:
    for rule in SUBJECT_RULES:
        reading = rule(clause, env)
        if reading is not None:
            return reading
    reading = _read_plain(clause, env)
    if reading is not None and reading.calls and not reading.unresolved:
        return reading
    # "is it healthy?", "who owns it?": "it" is the thread's newest entity.
    resolved = with_subject(clause, env)
    if resolved is not None:
        again = _read_plain(resolved, env)
        if again is not None and again.calls and not again.unresolved:
            again.label = clause
            return again
    return reading


def _read_plain(clause: str, env: Env) -> Reading | None:
    for rule in (*QUERY_RULES_BEFORE_CHANGES, *ASPECT_RULES, *CHANGE_RULES):
        reading = rule(clause, env)
        if reading is not None:
            return reading
    phrase = follow_up_phrase(clause)
    if phrase is not None:
        # "and reboot web-04 too" is a full request after the "and": read it as one.
        for rule in (*QUERY_RULES_BEFORE_CHANGES, *ASPECT_RULES, *CHANGE_RULES):
            reading = rule(phrase, env)
            if reading is not None:
                return reading
        if env.context is not None and env.context.last_tool_calls:
            return follow_up(phrase, clause, env)
        clause = phrase  # nothing to repeat: "what about web-04?" asks about web-04
    answer = answer_pending(clause, env)
    if answer is not None:
        return answer
    for rule in QUERY_RULES_AFTER_CHANGES:
        reading = rule(clause, env)
        if reading is not None:
            return reading
    return None


def _merge_key(reading: Reading) -> str:
    proposals = [c.args for c in reading.calls if c.name == "propose_change"]
    key: list[object] = [reading.intent, reading.action, [p.get("params") for p in proposals]]
    if reading.action not in MULTI_TARGET_ACTIONS:
        # Folding "disable a. disable b" would slip two targets past the one-target rule.
        key.append([p.get("targets") for p in proposals])
    return json.dumps(key, sort_keys=True, default=str)


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
            pending=reading.pending,
        )
    if reading.clarification:
        return ParseResult(intent=reading.intent, clarification=reading.clarification)
    if not reading.calls:
        return ParseResult(intent=Intent.UNKNOWN, clarification=NOT_UNDERSTOOD)
    return ParseResult(intent=reading.intent, tool_calls=reading.calls, notes=reading.notes)
