"""Grammar for questions about one side of one entity, and for what is scheduled.

"is X healthy?", "what changed on X?", "when was X last patched?", "who owns X?" become
``twin_show(entity, aspect)``; "what is scheduled tonight?" becomes ``scheduled_changes``. They
are tried before the change grammar, so "is X patched?" or "patch status of X" never reads as a
request to patch.
"""

from __future__ import annotations

import re

from agent.chat.offline.queries import entity_reading
from agent.chat.offline.slots import Env, Reading
from agent.chat.offline.types import Intent, ToolCall

__all__ = ["ASPECT_RULES"]

_I = re.I
_WHEN = (
    r"(?:\s+(?:right\s+now|now|at\s+the\s+moment|currently|today|recently|lately|"
    r"this\s+week|yesterday|last\s+night))?"
)
_PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "health": [
        re.compile(p + _WHEN + "$", _I)
        for p in (
            r"^(?:is|are)\s+(?P<e>.+?)\s+(?:healthy|ok|okay|alright|all\s+right|fine|up|alive|"
            r"online|working|in\s+good\s+shape|running(?:\s+(?:ok|okay|fine|well))?|"
            r"doing\s+(?:ok|okay|well|fine|alright))",
            r"^(?:what(?:'s|\s+is)\s+the\s+)?(?:health|state|condition)\s+of\s+(?P<e>.+?)",
            r"^how(?:'s|\s+is|\s+are)\s+(?P<e>.+?)(?:\s+doing)?",
            r"^(?:are\s+there\s+)?any\s+(?:problems|issues|trouble|errors)\s+(?:with|on|in)\s+"
            r"(?P<e>.+?)",
            r"^(?P<e>[\w.:-]+)\s+(?:healthy|ok|okay|up)",
        )
    ],
    "changes": [
        re.compile(p + _WHEN + "$", _I)
        for p in (
            r"^what(?:'s|\s+has|\s+have|\s+was|\s+were)?\s+(?:been\s+)?changed\s+"
            r"(?:on|in|for|with|to)\s+(?P<e>.+?)",
            r"^what\s+(?:did\s+(?:we|you|anyone)|have\s+(?:we|you)|has\s+anyone)\s+changed?\s+"
            r"(?:on|in|to)\s+(?P<e>.+?)",
            r"^(?:has|have)\s+anything\s+(?:been\s+)?changed\s+(?:on|in|to)\s+(?P<e>.+?)",
            r"^what\s+(?:was|has\s+been|have\s+you|did\s+you)\s+done\s+(?:to|on)\s+(?P<e>.+?)",
            r"^(?:any\s+|show\s+(?:me\s+)?(?:the\s+)?|list\s+(?:the\s+)?)?(?:recent\s+)?"
            r"changes\s+(?:on|to|for|made\s+to|of)\s+(?P<e>.+?)",
            r"^(?:the\s+)?(?:change\s+)?history(?:\s+of\s+changes)?\s+(?:of|for|on)\s+(?P<e>.+?)",
            r"^what\s+changes\s+(?:were|have\s+been)\s+made\s+(?:to|on)\s+(?P<e>.+?)",
        )
    ],
    "patch": [
        re.compile(p + "$", _I)
        for p in (
            r"^when\s+(?:was|were|did)\s+(?P<e>.+?)\s+(?:last\s+)?(?:get\s+)?(?:patched|updated|"
            r"patch(?:es)?|updates?)(?:\s+last)?",
            r"^(?:what(?:'s|\s+is)\s+the\s+)?(?:patch|update)\s+(?:status|level|state)\s+"
            r"(?:of|for|on)\s+(?P<e>.+?)",
            r"^(?P<e>[\w.:-]+)(?:'s)?\s+patch\s+(?:status|level)",
            r"^(?:is|are)\s+(?P<e>.+?)\s+(?:fully\s+)?(?:patched|up\s+to\s+date|up-to-date)"
            r"(?:\s+(?:now|yet))?",
            r"^(?:what|which)\s+(?:patches|updates|kbs?)\s+(?:is|are|does)\s+(?P<e>.+?)\s+"
            r"missing",
            r"^what\s+(?:patches|updates)\s+(?:are\s+)?(?:pending|missing|outstanding)\s+"
            r"(?:on|for)\s+(?P<e>.+?)",
            r"^(?:is|are)\s+(?P<e>.+?)\s+missing\s+(?:any\s+)?(?:patches|updates)",
            r"^(?:the\s+)?last\s+(?:patch(?:ed)?|update)(?:\s+date)?\s+(?:on|of|for)\s+(?P<e>.+?)",
        )
    ],
    "owner": [
        re.compile(p + "$", _I)
        for p in (
            r"^who\s+(?:owns|is\s+(?:the\s+)?(?:owner\s+of|responsible\s+for)|looks\s+after|"
            r"manages)\s+(?P<e>.+?)",
            r"^who(?:'s|\s+is)\s+(?:the\s+)?owner\s+of\s+(?P<e>.+?)",
            r"^(?:the\s+)?owner\s+of\s+(?P<e>.+?)",
            r"^whose\s+is\s+(?P<e>.+?)",
            r"^(?:which|what)\s+client\s+(?:owns\s+(?P<e>.+?)|does\s+(?P<f>.+?)\s+belong\s+to)",
            r"^(?P<e>.+?)\s+belongs\s+to\s+whom",
            r"^who\s+does\s+(?P<e>.+?)\s+belong\s+to",
        )
    ],
}

_SCHEDULE = re.compile(
    r"^(?:what|which|anything|is\s+anything|are\s+there\s+any|any|show|list)\b.*?"
    r"\b(?:scheduled|planned|queued|on\s+the\s+schedule|will\s+run|going\s+to\s+run|"
    r"runs?\s+in\s+the\s+(?:maintenance\s+)?window)\b(?P<rest>.*)$",
    _I,
)


def _aspect(clause: str, env: Env) -> Reading | None:
    for aspect, patterns in _PATTERNS.items():
        for pattern in patterns:
            match = pattern.match(clause)
            if match is None:
                continue
            phrase = match.groupdict().get("e") or match.groupdict().get("f")
            if not phrase:
                return None
            reading = entity_reading(env, Intent.SHOW, "twin_show", phrase)
            reading.calls = [
                ToolCall(name=c.name, args={**c.args, "aspect": aspect}) for c in reading.calls
            ]
            if reading.pending is not None:
                reading.pending = ToolCall(name="twin_show", args={"aspect": aspect})
            reading.label = clause
            return reading
    return None


def _period(text: str) -> str:
    low = text.lower()
    if re.search(r"\b(?:tonight|this\s+evening|overnight)\b", low):
        return "tonight"
    if re.search(r"\btoday\b", low):
        return "today"
    if re.search(r"\b(?:this\s+)?week\b", low):
        return "this_week"
    return "all"


def _scheduled(clause: str, env: Env) -> Reading | None:
    match = _SCHEDULE.match(clause)
    if match is None:
        return None
    return Reading(
        intent=Intent.SCHEDULED,
        calls=[ToolCall(name="scheduled_changes", args={"period": _period(clause)})],
        label=clause,
    )


ASPECT_RULES = (_scheduled, _aspect)
"""Tried before the change grammar (after change references, approvals and activity)."""
