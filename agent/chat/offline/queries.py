"""Grammar for read-only requests: questions about the twin, changes, approvals and activity.

Each rule takes one clause and returns a :class:`~agent.chat.offline.slots.Reading` or ``None``.
Patterns are anchored and tried in the order of :data:`QUERY_RULES`; the first that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.chat.offline.search import (
    listing_rule,
    missing_patch_rule,
    pending_reboot_rule,
    stale_rule,
)
from agent.chat.offline.slots import Env, Reading, change_id, resolve_targets
from agent.chat.offline.types import Intent, ToolCall, Unresolved

__all__ = [
    "QUERY_RULES",
    "QUERY_RULES_AFTER_CHANGES",
    "QUERY_RULES_BEFORE_CHANGES",
    "entity_reading",
]

Rule = Callable[[str, Env], Reading | None]

_I = re.I
_DOWN = (
    r"(?:(?:goes|went|is|are|gets?|got|were|was|be)\s+)?"
    r"(?:down|offline|rebooted|restarted|patched|reboots|restarts|fails|failed|dies|died|crashes|"
    r"crashed|unavailable|lost|out|unreachable)"
)
_BREAK = (
    r"(?:would\s+|will\s+|could\s+|might\s+|does\s+|do\s+)?(?:else\s+)?"
    r"(?:breaks?|fails?|goes\s+down|go\s+down|(?:be|is|are|gets?)\s+(?:affected|impacted|hit)|"
    r"happens?|stops?\s+working|is\s+at\s+risk|suffers?)"
)
_DOING = (
    r"(?:rebooting|restarting|patching|losing|taking\s+down|shutting\s+down|"
    r"an?\s+(?:reboot|outage|restart)\s+of)\s+"
)
_DO = r"(?:reboot|restart|patch|lose|take\s+down|shut\s+down|power\s+off|kill|bounce)\s+"

_BLAST = [
    re.compile(p, _I)
    for p in (
        r"^what(?:\s+else)?\s+(?:depends|relies|is\s+depending|hangs)\s+on\s+(?P<e>.+)$",
        r"^(?:which|what|who)\s+(?:\w+\s+)?(?:depend|rely|depends|relies|run|runs)\s+on\s+"
        r"(?P<e>.+)$",
        r"^what\s+(?:else\s+)?(?:goes|would\s+go|will\s+go)\s+down\s+(?:with|along\s+with)\s+"
        r"(?P<e>.+)$",
        rf"^if\s+(?P<e>.+?)\s+{_DOWN},?\s+(?:what|who)\s+{_BREAK}$",
        r"^(?:who|what)\s+(?:uses|needs|is\s+using|consumes|relies\s+on)\s+(?P<e>.+)$",
        rf"^(?:what|who)\s+{_BREAK}\s+(?:if|when)\s+(?:i|we|you|they|someone)\s+{_DO}(?P<e>.+)$",
        rf"^(?:what|who)\s+{_BREAK}\s+(?:if|when)\s+(?P<e>.+?)\s+{_DOWN}$",
        rf"^(?:what(?:'s|\s+is|\s+would\s+be)\s+|show\s+(?:me\s+)?|tell\s+me\s+|give\s+me\s+)?"
        rf"(?:the\s+)?(?:blast\s+radius|impact|fallout|blast)(?:\s+analysis)?\s+(?:of|for|on|if)\s+"
        rf"(?:i\s+{_DO}|we\s+{_DO}|{_DOING})?(?P<e>.+)$",
        rf"^is\s+it\s+safe\s+to\s+{_DO}(?P<e>.+)$",
        r"^(?P<e>.+?)\s+(?:blast\s+radius|impact)$",
    )
]
_DEPS = [
    re.compile(p, _I)
    for p in (
        r"^(?:on\s+)?what\s+(?:does|do|did)\s+(?P<e>.+?)\s+"
        r"(?:need|depend(?:\s+on)?|rely\s+on|require|use|run\s+on|sit\s+on|talk\s+to)$",
        r"^(?:what\s+are\s+|show\s+(?:me\s+)?|list\s+)?(?:the\s+)?(?:upstream\s+)?"
        r"(?:dependencies|deps|requirements|prerequisites)\s+(?:of|for)\s+(?P<e>.+)$",
        r"^(?:what|which)\s+(?:\w+\s+)?(?:is|are)\s+(?P<e>.+?)\s+"
        r"(?:depending\s+on|dependent\s+on|relying\s+on|running\s+on)$",
        r"^(?:what\s+are\s+|show\s+(?:me\s+)?|list\s+)?(?P<e>.+?)(?:'s)?\s+(?:dependencies|deps)$",
        r"^what\s+(?:is|are)\s+(?P<e>.+?)\s+(?:dependent|depending)\s+on$",
    )
]
_PATH = [
    re.compile(p, _I)
    for p in (
        r"^(?:show\s+(?:me\s+)?|find\s+|what(?:'s|\s+is)\s+)?(?:the\s+)?(?:shortest\s+)?"
        r"(?:path|route|connection|link|chain)\s+(?:from|between)\s+(?P<a>.+?)\s+(?:to|and)\s+(?P<b>.+)$",
        r"^how\s+(?:is|are|does|do)\s+(?P<a>.+?)\s+(?:connected|linked|related)\s+(?:to|with)\s+(?P<b>.+)$",
        r"^how\s+does\s+(?P<a>.+?)\s+(?:reach|get\s+to|connect\s+to|talk\s+to)\s+(?P<b>.+)$",
        r"^path\s+(?P<a>\S+)\s+(?:to|->|→)\s+(?P<b>\S+)$",
    )
]
_SHOW = re.compile(
    r"^(?:show(?:\s+me)?(?:\s+(?:everything|all|details|info)\s+(?:about|on|for))?|"
    r"tell\s+me(?:\s+more)?\s+about|describe|details?\s+(?:of|for|on|about)|"
    r"info(?:rmation)?\s+(?:on|about|for)|what\s+(?:is|are)|what's|who\s+is|who's|look\s+(?:at|up)|"
    r"lookup|inspect|check|status\s+of|how\s+is|how's|(?:give\s+me|get)\s+(?:the\s+)?"
    r"(?:details|info|information)\s+(?:on|about|for)|what\s+do\s+(?:you|we)\s+know\s+about)\s+(?P<e>.+)$",
    _I,
)


def entity_reading(env: Env, intent: Intent, tool: str, phrase: str) -> Reading:
    """One ``tool(entity=...)`` call per entity named in ``phrase`` (any kind)."""
    targets = resolve_targets(env, phrase, None)
    calls = [ToolCall(name=tool, args={"entity": i}) for i in targets.ids]
    likely = _most_likely(env, targets.unresolved) if not targets.ids else None
    if likely is not None:
        # A question may be answered for the likeliest of several ("tell me about contoso-erp"),
        # saying which and naming the others; a change on such a name is always asked back.
        entity, note = likely
        calls = [ToolCall(name=tool, args={"entity": entity})]
        return Reading(intent=intent, calls=calls, notes=[*targets.notes, note])
    pending = ToolCall(name=tool) if targets.unresolved and not targets.ids else None
    return Reading(
        intent=intent,
        calls=calls,
        unresolved=targets.unresolved,
        notes=targets.notes,
        pending=pending,
    )


def _most_likely(env: Env, unresolved: list[Unresolved]) -> tuple[str, str] | None:
    pick = getattr(env.resolver, "most_likely", None)
    if pick is None or len(unresolved) != 1:
        return None
    item = unresolved[0]
    ids = [c.id for c in item.candidates]
    if not item.ambiguous or len(ids) < 2:
        return None
    if any(c.name.casefold() == item.mention.strip().casefold() for c in item.candidates):
        return None  # several things carry exactly this name: ask which
    best = pick(ids)
    if best is None:
        return None
    kinds = getattr(env.resolver, "kind_of", lambda i: None)

    def named(entity_id: str) -> str:
        name = next(c.name for c in item.candidates if c.id == entity_id)
        return f"{kinds(entity_id) or 'entity'} {name}".replace("_", " ")

    others = [named(i) for i in ids if i != best]
    listed = ", ".join(others[:-1]) + (" and " if len(others) > 1 else "") + others[-1]
    return (
        best,
        f"`{item.mention}` fits several things; this is about {named(best)} (also: {listed}).",
    )


# --------------------------------------------------------------------------- rules
def _help(clause: str, env: Env) -> Reading | None:
    if re.fullmatch(
        r"(?:help|h|\?|commands|usage|what\s+can\s+(?:you|u)\s+do|what\s+do\s+you\s+do|"
        r"what\s+can\s+i\s+(?:ask|say)(?:\s+you)?|how\s+(?:does\s+this|do\s+you)\s+work|"
        r"how\s+do\s+i\s+use\s+(?:you|this|opshand)|what\s+are\s+your\s+commands|help\s+me|"
        r"what\s+are\s+you)",
        clause.strip(),
        _I,
    ):
        return Reading(intent=Intent.HELP, label="help")
    return None


def _typed_vote(clause: str, env: Env) -> Reading | None:
    # Approvals count only from the signed buttons of a consent card (RELIABILITY B6).
    if re.match(r"^(?:i\s+)?(?:approve|approved|reject|rejected|lgtm|veto)\b", clause, _I):
        return Reading(
            intent=Intent.CLARIFY,
            label=clause,
            clarification="Approvals and rejections count only from the Approve / Reject buttons "
            "on the consent card, not from typed messages. Ask me for the change's status to "
            "see its card.",
        )
    return None


def _change(clause: str, env: Env) -> Reading | None:
    cid = change_id(clause)
    if cid is None:
        return None
    if re.search(
        r"\bwhy\b|\breasons?\b|\bhow\s+come\b|\bwhat\s+(?:blocked|stopped|held\s+up)\b|"
        r"\bexplain\b",
        clause,
        _I,
    ):
        return Reading(
            intent=Intent.CHANGE_WHY,
            label=clause,
            calls=[ToolCall(name="change_why", args={"change_id": cid})],
        )
    return Reading(
        intent=Intent.CHANGE_STATUS,
        label=clause,
        calls=[ToolCall(name="change_status", args={"change_id": cid})],
    )


def _approvals(clause: str, env: Env) -> Reading | None:
    if re.search(
        r"\b(?:waiting|pending|awaiting|needs?|needing|queued|open|outstanding)\b.*"
        r"\b(?:approv\w*|consent|sign-?offs?|votes?)\b|^(?:pending\s+|open\s+)?approvals?$|"
        r"\b(?:approv\w*|consents?)\s+(?:queue|pending|waiting)\b",
        clause,
        _I,
    ):
        return Reading(
            intent=Intent.PENDING_APPROVALS,
            label=clause,
            calls=[ToolCall(name="pending_approvals", args={})],
        )
    return None


def _activity(clause: str, env: Env) -> Reading | None:
    if not re.search(
        r"\bwhat\s+(?:did|have|has)\s+(?:you|opshand)\s+(?:do|done|been\s+(?:doing|up\s+to))\b|"
        r"\b(?:activity|digest|recap|summary\s+of\s+(?:your\s+)?(?:work|actions|activity)|"
        r"what\s+happened)\b|\bwhat\s+(?:actions|changes)\s+(?:did\s+you\s+(?:run|make|take)|ran)\b",
        clause,
        _I,
    ):
        return None
    period = "today"
    if re.search(r"\byesterday\b", clause, _I):
        period = "yesterday"
    elif re.search(r"\blast\s+week\b", clause, _I):
        period = "last_week"
    elif re.search(r"\b(?:this|past)\s+week\b|\blast\s+7\s+days\b", clause, _I):
        period = "this_week"
    return Reading(
        intent=Intent.ACTIVITY,
        label=clause,
        calls=[ToolCall(name="activity", args={"period": period})],
    )


def _path(clause: str, env: Env) -> Reading | None:
    for pattern in _PATH:
        match = pattern.match(clause)
        if match:
            a = resolve_targets(env, match.group("a"), None)
            b = resolve_targets(env, match.group("b"), None)
            unresolved = a.unresolved + b.unresolved
            calls = []
            if not unresolved and a.ids and b.ids:
                calls = [ToolCall(name="twin_path", args={"source": a.ids[0], "target": b.ids[0]})]
            return Reading(
                intent=Intent.PATH,
                calls=calls,
                unresolved=unresolved,
                notes=a.notes + b.notes,
                label=clause,
            )
    return None


def _first_match(patterns: list[re.Pattern[str]], clause: str) -> str | None:
    for pattern in patterns:
        match = pattern.match(clause)
        if match:
            return match.group("e")
    return None


def _blast(clause: str, env: Env) -> Reading | None:
    phrase = _first_match(_BLAST, clause)
    if phrase is None:
        return None
    # "impact of contoso-dns going down": the entity, without the going down.
    phrase = re.sub(
        r"\s+(?:going|goes|went|being|is|was|gets?|getting)\s+(?:down|offline|away)$", "", phrase
    )
    reading = entity_reading(env, Intent.BLAST_RADIUS, "twin_blast_radius", phrase)
    reading.label = clause
    return reading


def _deps(clause: str, env: Env) -> Reading | None:
    phrase = _first_match(_DEPS, clause)
    if phrase is None:
        return None
    reading = entity_reading(env, Intent.DEPS, "twin_deps", phrase)
    reading.label = clause
    return reading


_OVERVIEW = [
    re.compile(p, _I)
    for p in (
        r"^(?:is|are)\s+(?P<e>.+?)\s+(?:healthy|ok|okay|fine|up|alive|running|online|"
        r"in\s+good\s+shape|doing\s+(?:ok|okay|well|fine))$",
        r"^(?:what(?:'s|\s+is)\s+the\s+)?(?:health|state)\s+of\s+(?P<e>.+)$",
        r"^who\s+(?:owns|is\s+(?:the\s+)?(?:owner\s+of|responsible\s+for)|looks\s+after|"
        r"manages|runs)\s+(?P<e>.+)$",
        r"^who(?:'s|\s+is)\s+(?:the\s+)?owner\s+of\s+(?P<e>.+)$",
        r"^what\s+(?:has\s+)?changed\s+(?:on|in|for|with)\s+(?P<e>.+?)(?:\s+recently|\s+lately)?$",
        r"^when\s+(?:was|were|did)\s+(?P<e>.+?)\s+(?:last\s+)?(?:patched|updated|rebooted|seen|"
        r"patch|update|reboot)(?:\s+last)?$",
    )
]


def _overview(clause: str, env: Env) -> Reading | None:
    """ "is X healthy?", "who owns X?", "what changed on X?", "when was X last patched?": the
    entity's overview (state, owner, provenance, last seen) answers each."""
    phrase = _first_match(_OVERVIEW, clause)
    if phrase is None:
        return None
    reading = entity_reading(env, Intent.SHOW, "twin_show", phrase)
    reading.label = clause
    return reading


def _show(clause: str, env: Env) -> Reading | None:
    match = _SHOW.match(clause)
    phrase = match.group("e") if match else None
    if phrase is None and re.fullmatch(r"[\w.:-]*\d[\w.:-]*|[\w.:]+-[\w.:-]+", clause):
        phrase = clause  # a bare name such as "contoso-ny-web-01?" asks about that entity
    if phrase is None:
        return None
    reading = entity_reading(env, Intent.SHOW, "twin_show", phrase)
    reading.label = clause
    return reading


QUERY_RULES_BEFORE_CHANGES: tuple[Rule, ...] = (
    _help,
    _typed_vote,
    _change,
    _approvals,
    _activity,
    stale_rule,
    _path,
    missing_patch_rule,
    pending_reboot_rule,
    _blast,
    _deps,
)
"""Question rules tried before the change grammar ("impact of rebooting X" is a question)."""

QUERY_RULES_AFTER_CHANGES: tuple[Rule, ...] = (listing_rule, _overview, _show)
"""Catch-all question rules tried last."""

QUERY_RULES = QUERY_RULES_BEFORE_CHANGES + QUERY_RULES_AFTER_CHANGES
