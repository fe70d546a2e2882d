"""Grammar for questions that search the twin: missing patches, reboots, listings, stale facts.

Also the client/env/role filters those questions share. Rules follow the contract of
:mod:`agent.chat.offline.queries`: one clause in, a :class:`~agent.chat.offline.slots.Reading` or
``None``.
"""

from __future__ import annotations

import re

from agent.chat.offline.slots import Env, Reading, SlotError, duration, resolve_targets
from agent.chat.offline.types import Intent, RoleAwareResolver, ToolCall, Unresolved

__all__ = [
    "client_in",
    "client_slug",
    "listing_rule",
    "missing_patch_rule",
    "pending_reboot_rule",
    "search_filters",
    "stale_rule",
]

_I = re.I
_KB = re.compile(r"\bKB\s?-?(\d{6,8})\b", _I)
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


def stale_rule(clause: str, env: Env) -> Reading | None:
    """Stale-facts questions ("stale facts for CLIENT older than 48h") -> ``twin_stale``."""
    if not re.search(
        r"\bstale\b|\bout\s+of\s+date\b|\boutdated\b|\bnot\s+(?:been\s+)?seen\b|"
        r"\bhaven't\s+been\s+seen\b|\bfreshness\b|\bold\s+facts\b|\bnot\s+reported\b|"
        r"\b(?:facts?|data|records|entries|information)\b.*\bolder\s+than\b",
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


def missing_patch_rule(clause: str, env: Env) -> Reading | None:
    """ "Which hosts of CLIENT are missing KB..." -> ``twin_search(missing_patch=...)``."""
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


def pending_reboot_rule(clause: str, env: Env) -> Reading | None:
    """ "Which hosts need a reboot" -> ``twin_search(pending_reboot=True)``."""
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


def listing_rule(clause: str, env: Env) -> Reading | None:
    """ "List the services of CLIENT", "find erp" -> ``twin_search`` with filters."""
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
