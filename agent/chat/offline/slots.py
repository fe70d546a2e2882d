"""Filling the slots of a request: entity mentions, lists of targets, durations, IPs, windows.

Everything that turns words into argument values lives here, so that the grammar modules only
say *where* a slot is and this module says *what* it holds.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from agent.chat.offline.text import QUOTE_TOKEN
from agent.chat.offline.types import (
    ConversationContext,
    EntityResolver,
    Intent,
    RoleAwareResolver,
    ToolCall,
    Unresolved,
)
from agent.chat.tool_args import MAX_TARGETS

__all__ = [
    "Env",
    "Reading",
    "SlotError",
    "Targets",
    "change_id",
    "clean_mention",
    "duration",
    "ip_source",
    "resolve_targets",
    "restore_point",
    "window",
]

HOST_KINDS = {"host", "hypervisor"}

_KIND_WORDS = (
    r"siem rule|api key|service account|hosts?|servers?|box(?:es)?|vms?|machines?|nodes?|"
    r"services?|svc|app|application|users?|accounts?|identity|identities|credentials?|creds?|"
    r"passwords?|secrets?|keys?|tokens?|tickets?|cases?|incidents?|rules?|siem|alerts?|"
    r"detections?|firewalls?|fw|entity|thing"
)
_LEAD = re.compile(rf"^(?:(?:the|a|an|my|our|their|this|that|(?:{_KIND_WORDS}))\s+)+", re.I)
_TRAIL = re.compile(rf"(?:\s+(?:{_KIND_WORDS}|too|as well|also|again|instead|now))+$", re.I)
_PRONOUN_PHRASE = re.compile(
    rf"^(?:it|them|that|those|these|this|they|both|all of them|the same(?: ones?)?|"
    rf"(?:that|this|those|these) (?:one|ones|{_KIND_WORDS}))$",
    re.I,
)
_TIER = re.compile(
    r"^(?:all\s+(?:of\s+)?)?(?:the\s+)?(?:(?P<client>[a-z][\w-]*?)(?:'s)?\s+)??"
    r"(?P<role>[a-z][a-z0-9]*)\s+"
    r"(?:tier|servers|hosts|nodes|boxes|machines|fleet|farm|layer)$",
    re.I,
)
# "all servers", "every contoso host", "all of fabrikam's machines": a whole fleet, or one client's.
_FLEET = re.compile(
    r"^(?:all|every)\s+(?:of\s+)?(?:the\s+)?(?:(?P<client>[a-z][\w-]*?)(?:'s)?\s+)?"
    r"(?P<noun>servers?|hosts?|machines?|boxes|nodes?)$",
    re.I,
)
# "Servers" leaves out the people's machines; "hosts" and "machines" take everything.
_NOT_SERVERS = ("endpoint", "workstation", "laptop", "desktop")
# Prose after the names ("TCK-1042, the ticket says ...", "web-02 because it hangs") is not a name.
_PROSE_TAIL = re.compile(
    r"(?:\s*[,:(-]\s*(?:the|it|its|it's|this|that|which|who|they|their|he|she|as|so|but|because|"
    r"since|see|per|i\s+think|fyi|body|details|context|log|logs|output|message|text|note|"
    r"background|pasted|quote|from|here)\b|\s+(?:because|since|as\s+it|so\s+that|but|which|who|"
    r"per|due\s+to)\s).*$",
    re.I | re.S,
)
_LIST_SPLIT = re.compile(r"\s*(?:,|\band\b|&|\+|\bplus\b)\s*", re.I)


class SlotError(ValueError):
    """A slot holds a value that cannot be used (an invalid IP, an impossible date)."""


@dataclass
class Env:
    """What every grammar rule may look at while reading one message."""

    resolver: EntityResolver
    context: ConversationContext | None
    quoted: list[str]
    request: str
    """The whole cleaned request, quoted blocks shown as ``[quoted]``; used as the reason."""
    now: datetime | None = None
    """When the request was read (aware); ``None``: the wall clock. Times are resolved from it."""
    tz: str = "UTC"
    """The requester's time zone: "tonight" and "at 02:00" are read in it."""


@dataclass
class Reading:
    """What one clause asks for."""

    intent: Intent
    calls: list[ToolCall] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    clarification: str | None = None
    label: str = ""
    """A few words naming the request, for "which one do you want?" questions."""
    action: str | None = None
    notes: list[str] = field(default_factory=list)
    """Spelling corrections made while resolving ("took `db-prdo-01` to mean ...")."""
    pending: ToolCall | None = None
    """With unresolved mentions: the call to complete once the person says which one."""


@dataclass
class Targets:
    """Entity ids for a target phrase, plus what could not be resolved."""

    ids: list[str] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    too_many: str | None = None
    """Set when a phrase names more targets than one proposal may hold: the question to ask."""


def clean_mention(text: str) -> str:
    """Strip quote tokens, articles and kind words around a name (``the contoso-erp service``)."""
    text = QUOTE_TOKEN.sub(" ", text)
    text = re.sub("['\u2019]s\\b", "", text.strip(" \t,.;:!?`'\"()"))
    previous = None
    while previous != text:
        previous = text
        text = _LEAD.sub("", text).strip()
        text = _TRAIL.sub("", text).strip()
    return text.strip(" ,.;:!?`'\"()")


def resolve_targets(
    env: Env, phrase: str, kinds: set[str] | None, *, allow_tier: bool = False
) -> Targets:
    """Resolve a phrase naming one or more entities (``web-01, web-02 and web-03``).

    Pronouns (``it``, ``them``) stand for the previous turn's targets. With ``allow_tier``,
    ``the web tier`` / ``all web servers`` expand to every host in that role, and ``all servers``
    / ``all contoso servers`` to every server (of that client), up to ``MAX_TARGETS`` hosts:
    beyond that the person is asked to narrow it down, with the exact count.
    """
    result = Targets()
    phrase = _PROSE_TAIL.sub("", QUOTE_TOKEN.sub(" ", phrase)).strip(" ,.;:!?")
    if _PRONOUN_PHRASE.match(phrase.strip()):
        last = env.context.last_targets if env.context else []
        if last:
            result.ids.extend(last)
        else:
            result.unresolved.append(Unresolved(mention=phrase.strip(), kinds=sorted(kinds or [])))
        return result
    for item in (p for p in _LIST_SPLIT.split(phrase) if p.strip()):
        fleet = _FLEET.match(item.strip()) if allow_tier else None
        if fleet is not None and _fleet(env, item.strip(), fleet, result):
            continue
        tier = _TIER.match(item.strip()) if allow_tier else None
        client = _client_slug(env, tier.group("client")) if tier and tier.group("client") else None
        if tier and tier.group("client") and client is None:
            tier = None  # "the xyz web tier" with xyz not a client: not a tier phrase we know
        if tier and not _resolves(env, tier.group("role"), kinds):
            members = _tier_members(env.resolver, tier.group("role").lower(), client)
            if members:
                result.ids.extend(m for m in members if m not in result.ids)
            else:
                result.unresolved.append(Unresolved(mention=item.strip(), kinds=["host"]))
            continue
        _resolve_one(env, item, kinds, result)
    return result


def _fleet(env: Env, item: str, match: re.Match[str], into: Targets) -> bool:
    """Expand "all (contoso) servers" into ``into``; ``False`` when it is not such a phrase."""
    resolver = env.resolver
    if not isinstance(resolver, RoleAwareResolver):
        return False
    client = None
    if match.group("client"):
        client = _client_slug(env, match.group("client"))
        if client is None:
            return False  # "all web servers": a tier, read by _TIER
    servers = match.group("noun").lower().startswith("server")
    members = resolver.fleet("host", client, except_roles=_NOT_SERVERS if servers else ())
    if not members:
        into.unresolved.append(Unresolved(mention=item, kinds=["host"]))
    elif len(members) > MAX_TARGETS:
        into.too_many = (
            f"`{item}` is {len(members)} hosts; I propose at most {MAX_TARGETS} at once. "
            "Narrow it down: one client (`all <client> servers`), a tier (`the web tier`) "
            "or a list of names."
        )
    else:
        into.ids.extend(m for m, _ in members if m not in into.ids)
    return True


def _resolves(env: Env, mention: str, kinds: set[str] | None) -> bool:
    return env.resolver.resolve(mention, kinds).entity_id is not None


def _resolve_one(env: Env, item: str, kinds: set[str] | None, into: Targets) -> None:
    cleaned = clean_mention(item)
    if not cleaned:
        return
    resolution = env.resolver.resolve(cleaned, kinds)
    raw = item.strip(" ,.;:!?`'\"")
    if resolution.entity_id is None and raw.lower() != cleaned.lower():
        # The kind word may be part of the name ("contoso-sql-password"): try the words as said.
        second = env.resolver.resolve(raw, kinds)
        if second.entity_id is not None or (second.candidates and not resolution.candidates):
            resolution = second
    if resolution.entity_id is None:
        into.unresolved.append(
            Unresolved(
                mention=cleaned,
                candidates=resolution.candidates,
                kinds=sorted(kinds or []),
                ambiguous=resolution.ambiguous,
            )
        )
        return
    if resolution.match == "fuzzy":
        name = resolution.candidates[0].name if resolution.candidates else resolution.entity_id
        into.notes.append(f"I took `{cleaned}` to mean {name}.")
    if resolution.entity_id not in into.ids:
        into.ids.append(resolution.entity_id)


def _client_slug(env: Env, word: str) -> str | None:
    resolution = env.resolver.resolve(word, {"client"})
    if resolution.entity_id is None or resolution.match == "fuzzy":
        return None
    return resolution.entity_id.split(":", 1)[-1].lower()


def _tier_members(resolver: EntityResolver, role: str, client: str | None) -> list[str]:
    if isinstance(resolver, RoleAwareResolver):
        return [entity_id for entity_id, _ in resolver.members(role, "host", client)]
    # A resolver without roles: fall back to hosts with the role as a whole part of the name.
    pattern = re.compile(rf"(?:^|[-_.]){re.escape(role)}(?:$|[-_.])", re.I)
    return [
        entity_id
        for entity_id, name in resolver.names("host")
        if pattern.search(name) and (client is None or name.lower().startswith(client + "-"))
    ]


# --------------------------------------------------------------------------- values
_DURATION = re.compile(
    r"\b(?P<n>\d+(?:\.\d+)?|an?|one|two|three|four|six|twelve)\s*"
    r"(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)\b",
    re.I,
)
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "twelve": 12}
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def duration(text: str) -> str | None:
    """The first duration in ``text`` as ``"30m"``/``"24h"`` (hours for a day or more).

    Raises:
        SlotError: For a zero duration.
    """
    match = _DURATION.search(text)
    if match is None:
        return None
    raw = match.group("n").lower()
    amount = float(_WORD_NUMBERS.get(raw, 0) or raw)
    minutes = round(amount * _UNIT_MINUTES[match.group("unit")[0].lower()])
    if minutes <= 0:
        raise SlotError(f"`{match.group()}` is not a usable duration")
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


_IP_LIKE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?:/\d{1,3})?"
    r"(?![\w.:])",
    re.I,
)


def ip_source(text: str) -> str | None:
    """The first IP address or CIDR block in ``text``, normalised.

    Raises:
        SlotError: When something shaped like an address is not a valid one.
    """
    match = _IP_LIKE.search(text)
    if match is None:
        return None
    raw = match.group()
    try:
        if "/" in raw:
            return str(ipaddress.ip_network(raw, strict=False))
        return str(ipaddress.ip_address(raw))
    except ValueError as exc:
        raise SlotError(f"`{raw}` is not a valid IP address or CIDR block") from exc


def window(text: str) -> str:
    """``now``, ``tonight`` or ``maintenance``: when a patch should run (``now`` by default)."""
    if re.search(r"\b(?:tonight|this evening|overnight|after hours|out of hours)\b", text, re.I):
        return "tonight"
    if re.search(r"\bmaintenance\b|\bnext window\b|\bthe window\b|\bchange window\b", text, re.I):
        return "maintenance"
    return "now"


def restore_point(text: str) -> str:
    """``latest``, ``last_night`` or an ISO date (``latest`` when not said).

    Raises:
        SlotError: For a date that does not exist.
    """
    iso = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", text)
    if iso:
        try:
            return date.fromisoformat(iso.group(1)).isoformat()
        except ValueError as exc:
            raise SlotError(f"`{iso.group(1)}` is not a valid date") from exc
    if re.search(r"\b(?:last night|overnight|yesterday|nightly)\b", text, re.I):
        return "last_night"
    return "latest"


_CHANGE_ID = re.compile(r"\b(?:cr|chg|change(?: request)?)\s*[-#]?\s*(\d+)\b", re.I)


def change_id(text: str) -> str | None:
    """The change id in ``text`` (``CR-42`` from "cr 42", "CR42", "change #42")."""
    match = _CHANGE_ID.search(text)
    return f"CR-{int(match.group(1))}" if match else None
