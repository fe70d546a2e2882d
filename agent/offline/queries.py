"""Grammar for read-only requests: questions about the twin, changes, approvals and activity.

Each rule takes one clause and returns a :class:`~agent.offline.slots.Reading` or ``None``.
Patterns are anchored and tried in the order of :data:`QUERY_RULES`; the first that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.offline.slots import Env, Reading, SlotError, change_id, duration, resolve_targets
from agent.offline.types import Intent, RoleAwareResolver, ToolCall, Unresolved

__all__ = [
    "QUERY_RULES",
    "QUERY_RULES_AFTER_CHANGES",
    "QUERY_RULES_BEFORE_CHANGES",
    "client_in",
    "client_slug",
    "entity_reading",
    "search_filters",
]

Rule = Callable[[str, Env], Reading | None]

_I = re.I
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", _I)
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
        r"^(?:which|what)\s+(?:\w+\s+)?(?:depend|rely|depends|relies|run|runs)\s+on\s+(?P<e>.+)$",
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
    r"^(?:show(?:\s+me)?|tell\s+me(?:\s+more)?\s+about|describe|details?\s+(?:of|for|on|about)|"
    r"info(?:rmation)?\s+(?:on|about|for)|what\s+(?:is|are)|what's|who\s+is|who's|look\s+(?:at|up)|"
    r"lookup|inspect|check|status\s+of|how\s+is|how's|(?:give\s+me|get)\s+(?:the\s+)?"
    r"(?:details|info|information)\s+(?:on|about|for)|what\s+do\s+(?:you|we)\s+know\s+about)\s+(?P<e>.+)$",
    _I,
)
_QUESTION = re.compile(
    r"^(?:which|what|list|show|find|any|are\s+there|how\s+many|who|get|give\s+me)\b", _I
)
_HOSTS = r"(?:hosts?|servers?|machines?|boxes|devices?|endpoints?|computers?|vms?|nodes?)"
_ENVS = {
    "prod": "prod",
    "production": "prod",
    "dev": "dev",
    "development": "dev",
    "staging": "staging",
    "stage": "staging",
    "test": "test",
    "qa": "test",
}
_NOT_CLIENTS = frozenset(
    [
        "the",
        "all",
        "any",
        "which",
        "what",
        "who",
        "how",
        "are",
        "for",
        "and",
        "from",
        "with",
        "without",
        "that",
        "this",
        "these",
        "those",
        "missing",
        "need",
        "needs",
        "pending",
        "reboot",
        "hosts",
        "host",
        "servers",
        "server",
        "machines",
        "list",
        "show",
        "find",
        "stale",
        "facts",
        "older",
        "than",
        "last",
        "past",
        "days",
        "hours",
    ]
)
_KIND_NOUNS = {
    "host": "host",
    "server": "host",
    "machine": "host",
    "box": "host",
    "device": "host",
    "endpoint": "host",
    "computer": "host",
    "vm": "host",
    "service": "service",
    "app": "service",
    "application": "service",
    "user": "identity",
    "identity": "identity",
    "account": "identity",
    "ticket": "ticket",
    "incident": "incident",
    "firewall": "firewall",
    "credential": "credential",
    "secret": "credential",
    "backup": "backup",
    "rule": "siem_rule",
    "site": "site",
    "client": "client",
    "cluster": "cluster",
    "hypervisor": "hypervisor",
    "segment": "segment",
}


def entity_reading(env: Env, intent: Intent, tool: str, phrase: str) -> Reading:
    """One ``tool(entity=...)`` call per entity named in ``phrase`` (any kind)."""
    targets = resolve_targets(env, phrase, None)
    calls = [ToolCall(name=tool, args={"entity": i}) for i in targets.ids]
    return Reading(intent=intent, calls=calls, unresolved=targets.unresolved, notes=targets.notes)


def client_in(env: Env, clause: str) -> str | None:
    """The id of the client a clause is about (``client:contoso``), if it names one.

    Every word is tried against client names (exact or whole-segment part, never fuzzy: a
    misread client would silently widen or narrow a search).
    """
    for found in re.findall(r"[A-Za-z][\w&.-]*", clause):
        word = re.sub(r"'s$", "", found).strip(".-")
        if len(word) < 3 or word.lower() in _NOT_CLIENTS:
            continue
        res = env.resolver.resolve(word, {"client"})
        if res.entity_id and res.match in ("id", "name", "partial"):
            return res.entity_id
    return None


def client_slug(client_id: str) -> str:
    """The value hosts carry in ``attrs.client``: ``client:contoso`` -> ``contoso``."""
    return client_id.split(":", 1)[-1]


def search_filters(env: Env, clause: str) -> dict[str, object]:
    """``client``, ``env`` and ``role`` filters said in a clause about hosts."""
    args: dict[str, object] = {}
    client = client_in(env, clause)
    if client:
        args["client"] = client_slug(client)
    env_word = re.search(r"\b(" + "|".join(_ENVS) + r")\b", clause, _I)
    if env_word:
        args["env"] = _ENVS[env_word.group(1).lower()]
    for found in re.findall(rf"\b([a-z]+)\s+(?:{_HOSTS}|tier)\b", clause, _I):
        role = found.lower()
        if role in _ENVS or role in ("which", "what", "all", "the", "any", "of", "are"):
            continue
        resolver = env.resolver
        if isinstance(resolver, RoleAwareResolver) and resolver.members(role, "host"):
            args["role"] = role
            break
    return args


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


def _stale(clause: str, env: Env) -> Reading | None:
    if not re.search(
        r"\bstale\b|\bout\s+of\s+date\b|\boutdated\b|\bnot\s+(?:been\s+)?seen\b|"
        r"\bhaven't\s+been\s+seen\b|\bfreshness\b|\bold\s+facts\b|\bnot\s+reported\b",
        clause,
        _I,
    ):
        return None
    hours = 24
    older = re.search(
        r"(?:older\s+than|more\s+than|over|in\s+(?:the\s+)?(?:last|past)|for|since|>)\s*(.+)",
        clause,
        _I,
    )
    if older:
        try:
            span = duration(older.group(1))
        except SlotError:
            span = None
        if span:
            hours = max(1, int(span[:-1]) // 60 if span.endswith("m") else int(span[:-1]))
    args: dict[str, object] = {"scope": None, "hours": hours}
    client = client_in(env, clause)
    notes: list[str] = []
    unresolved: list[Unresolved] = []
    if client:
        args["scope"] = client
    else:
        args["scope"], unresolved, notes = _scope(env, clause)
    calls = [] if unresolved else [ToolCall(name="twin_stale", args=args)]
    return Reading(
        intent=Intent.STALE, calls=calls, unresolved=unresolved, notes=notes, label=clause
    )


def _scope(env: Env, clause: str) -> tuple[str | None, list[Unresolved], list[str]]:
    """The entity a stale-facts question is limited to: the first "for/on/in X" that resolves."""
    spots = re.findall(r"\b(?:for|in|at|of|about|on|under)\s+(?:the\s+)?([\w.:-]+)", clause, _I)
    named = [s for s in spots if re.search(r"[\d-]", s) and not re.fullmatch(r"\d+\w?", s)]
    for spot in spots:
        if spot.lower() in _NOT_CLIENTS or spot.lower() in ("date", "time"):
            continue
        targets = resolve_targets(env, spot, None)
        if targets.ids:
            return targets.ids[0], [], targets.notes
    if named:
        return None, resolve_targets(env, named[0], None).unresolved, []
    return None, [], []


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


def _missing_patch(clause: str, env: Env) -> Reading | None:
    kb = _KB.search(clause)
    if kb is None or not re.search(
        r"\b(?:missing|lacks?|lacking|without|not\s+patched|(?:don't|do\s+not|doesn't)\s+have|"
        r"need|needs|needing|haven't|have\s+not|not\s+installed|pending)\b",
        clause,
        _I,
    ):
        return None
    args: dict[str, object] = {
        "kind": "host",
        **search_filters(env, clause),
        "missing_patch": f"KB{kb.group(1)}",
    }
    return Reading(
        intent=Intent.SEARCH, label=clause, calls=[ToolCall(name="twin_search", args=args)]
    )


def _pending_reboot(clause: str, env: Env) -> Reading | None:
    if not re.search(
        r"\b(?:pending|awaiting|waiting\s+for|need(?:s|ing)?|require[sd]?|requiring|due\s+for|"
        r"outstanding)\s+(?:an?\s+)?reboots?\b|\breboots?\s+(?:pending|required|outstanding|needed)\b",
        clause,
        _I,
    ):
        return None
    if not (_QUESTION.match(clause) or re.search(rf"\b{_HOSTS}\b", clause, _I)):
        return None
    args: dict[str, object] = {
        "kind": "host",
        **search_filters(env, clause),
        "pending_reboot": True,
    }
    return Reading(
        intent=Intent.SEARCH, label=clause, calls=[ToolCall(name="twin_search", args=args)]
    )


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


def _listing(clause: str, env: Env) -> Reading | None:
    match = re.match(
        r"^(?:find|search(?:\s+for)?|look\s+for|list|show(?:\s+me)?|which|what)\s+(?:all\s+)?"
        r"(?:the\s+)?(?P<q>.+)$",
        clause,
        _I,
    )
    if match is None:
        return None
    query = match.group("q")
    noun = re.search(r"\b(" + "|".join(_KIND_NOUNS) + r")(?:e?s)\b", query, _I)
    if noun is None:
        if re.match(r"^(?:find|search|look\s+for)\b", clause, _I):
            return Reading(
                intent=Intent.SEARCH,
                label=clause,
                calls=[ToolCall(name="twin_search", args={"query": query.strip()})],
            )
        return None
    kind = _KIND_NOUNS[noun.group(1).lower()]
    args: dict[str, object] = {"kind": kind}
    if kind == "host":
        args.update(search_filters(env, clause))
    else:
        client = client_in(env, clause)
        if client:
            args["client"] = client_slug(client)
    named = re.search(r"\b(?:named|called|matching|like|containing)\s+(?P<n>\S+)", query, _I)
    if named:
        args["query"] = named.group("n").strip("'\"`")
    return Reading(
        intent=Intent.SEARCH, label=clause, calls=[ToolCall(name="twin_search", args=args)]
    )


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
    _stale,
    _path,
    _missing_patch,
    _pending_reboot,
    _blast,
    _deps,
)
"""Question rules tried before the change grammar ("impact of rebooting X" is a question)."""

QUERY_RULES_AFTER_CHANGES: tuple[Rule, ...] = (_listing, _show)
"""Catch-all question rules tried last."""

QUERY_RULES = QUERY_RULES_BEFORE_CHANGES + QUERY_RULES_AFTER_CHANGES
