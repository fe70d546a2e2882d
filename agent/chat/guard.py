"""The trust guard of ``propose_change``: only the person's own words can name an action or target.

Tool results (twin attributes, tickets, alerts, script output) are untrusted data and reach the
model, so the model may repeat what an injection asked for. This module decides, from the trusted
request text alone, whether a proposed action was asked for and whether each target was named by
the person or follows from their words ("the web tier", "all contoso servers", "hosts missing
KB5034441"). Text is compared after NFKC folding, zero-width stripping and look-alike folding, and
an entity whose own name uses look-alike characters is only named by exactly those characters.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.approval import RoleMap
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind

__all__ = [
    "MAX_TARGETS",
    "action_requested",
    "may_request",
    "named_in_request",
    "normalise",
    "param_mentions",
]

MAX_TARGETS = 25
"""The most targets one proposal may hold; policy already asks two approvers above 10."""

# Format and invisible characters that split a word without showing (zero-width, bidi, joiners).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]"
)
# Cyrillic and Greek letters that look like Latin ones (the usual homograph set).
_LOOKALIKES = str.maketrans(
    "\u0430\u0432\u0435\u0451\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445\u0456\u0457\u0458\u0455\u0501\u04bb"
    "\u04cf\u051b\u051d\u0578\u057d\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u0261\u0251\u0131",
    "abeekmhopctyxiijsdhlqwnuabenikvoptuxgai",
)


def normalise(text: str) -> str:
    """Fold compatibility forms (NFKC), strip invisible characters, casefold, fold look-alikes."""
    folded = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    return folded.translate(_LOOKALIKES)


def _plain(name: str) -> bool:
    """Whether a name survives normalisation unchanged (no look-alikes, no invisible marks)."""
    return normalise(name) == name.casefold()


def _has(text: str, handle: str) -> bool:
    """``handle`` occurs in ``text`` as a whole name (not inside a longer hyphenated name)."""
    if not handle:
        return False
    return re.search(rf"(?<![\w.\-]){re.escape(handle)}(?![\w\-])", text) is not None


def _handles(e: Entity) -> list[str]:
    """The ways a person names an entity: full name, id, distinctive name suffixes, numbers."""
    name = normalise(e.name)
    out = [name, normalise(e.id), normalise(e.id.split(":", 1)[-1])]
    first = name.split()[0] if name.split() else name
    parts = first.split("-")
    for i in range(1, len(parts) - 1):
        suffix = "-".join(parts[i:])
        if len(suffix) >= 5:
            out.append(suffix)
    if " " in name and any(c.isdigit() for c in first):
        out.append(first)  # "TCK-1001 Printer queue stuck" is named by "TCK-1001"
        out += re.findall(r"\d{3,}", first)
    return out


def _words_match(e: Entity, text: str) -> bool:
    """A multi-word name ("Impossible travel sign-in") is named by most of its long words."""
    words = [w for w in re.findall(r"[a-z]{4,}", normalise(e.name)) if w not in {"with", "from"}]
    if len(words) < 2:
        return False
    hits = sum(1 for w in words if re.search(rf"\b{w}", text))
    return hits >= 2 and hits / len(words) >= 0.6


_QUANTS = {"all", "every", "each", "entire", "whole", "both"}
_PLURALS = {"tier", "tiers", "servers", "hosts", "boxes", "machines", "nodes", "fleet", "vms"}
_PLURALS |= {"endpoints", "instances", "workstations", "devices"}
_STOP = {"the", "our", "my", "those", "these", "a", "an", "of", "its", "their"}
_ENVS = {"prod": "prod", "production": "prod", "dev": "dev", "development": "dev"}
_ENVS |= {"staging": "staging", "stage": "staging", "test": "test", "qa": "qa"}
_AFTER = {"of", "for", "at", "in", "from", "on"}
_TIME = {"tonight", "now", "today", "tomorrow", "please", "asap", "and", "then", "too"}
_KB = re.compile(r"\bkb\d{6,8}\b")
_REBOOT_PENDING = re.compile(
    r"pending (a )?reboot|reboot pending|need(s|ing)? a reboot|waiting for a reboot"
)


@dataclass(frozen=True)
class _Vocabulary:
    """Words that describe a group of entities in this twin: client names and roles."""

    clients: dict[str, str]
    roles: frozenset[str]

    @classmethod
    def of(cls, graph: TwinGraph | None) -> _Vocabulary:
        if graph is None:
            return cls({}, frozenset())
        # One scan per twin version: a proposal checks up to MAX_TARGETS entities.
        cached = _VOCAB_CACHE.get(graph)
        if cached is None or cached[0] != graph.serial:
            cached = (graph.serial, cls._scan(graph))
            _VOCAB_CACHE[graph] = cached
        return cached[1]

    @classmethod
    def _scan(cls, graph: TwinGraph) -> _Vocabulary:
        clients: dict[str, str] = {}
        for c in graph.entities(NodeKind.CLIENT):
            slug = str(c.attrs.get("client", c.id.split(":", 1)[-1])).casefold()
            clients[slug] = slug
            for word in re.findall(r"[\w-]+", normalise(c.name)):
                if word not in {"inc", "ltd", "llc", "gmbh", "co", "corp", "traders"}:
                    clients.setdefault(word, slug)
        roles = {
            normalise(str(e.attrs["role"]))
            for kind in (NodeKind.HOST, NodeKind.SERVICE)
            for e in graph.entities(kind)
            if e.attrs.get("role")
        }
        return cls(clients, frozenset(roles))


_VOCAB_CACHE: weakref.WeakKeyDictionary[TwinGraph, tuple[int, _Vocabulary]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class _Group:
    """A group the person described: "all contoso prod web servers"."""

    quantified: bool
    clients: frozenset[str]
    envs: frozenset[str]
    roles: frozenset[str]

    def holds(self, e: Entity) -> bool:
        a = e.attrs
        if not (self.quantified or self.roles):
            return False
        if not self.roles and e.kind is not NodeKind.HOST:
            return False
        return (
            (not self.clients or str(a.get("client", "")).casefold() in self.clients)
            and (not self.envs or str(a.get("env", "")).casefold() in self.envs)
            and (not self.roles or normalise(str(a.get("role", ""))) in self.roles)
        )


def _groups(text: str, vocab: _Vocabulary) -> list[_Group]:
    """Every group phrase in ``text``; one with a word we cannot place describes nothing."""
    tokens = re.findall(r"[\w.-]+", text)
    verbs = tuple(stem for stems in _VERBS.values() for stem in stems)
    out: list[_Group] = []
    for i, tok in enumerate(tokens):
        if tok not in _PLURALS:
            continue
        quant, unknown = False, False
        clients: set[str] = set()
        envs: set[str] = set()
        roles: set[str] = set()
        for t in reversed(tokens[max(0, i - 6) : i]):
            role = t[:-1] if t.endswith("s") and t[:-1] in vocab.roles else t
            if t in _QUANTS:
                quant = True
            elif t in _STOP:
                continue
            elif t in vocab.clients:
                clients.add(vocab.clients[t])
            elif t in _ENVS:
                envs.add(_ENVS[t])
            elif role in vocab.roles:
                roles.add(role)
            elif t.startswith(verbs) or t in _TIME:
                break
            else:
                unknown = True  # "the fabrikam web tier" where no fabrikam is known
                break
        if i + 2 < len(tokens) and tokens[i + 1] in _AFTER:
            t = tokens[i + 2]
            if t in vocab.clients:
                clients.add(vocab.clients[t])
            elif t not in _STOP | _TIME:
                unknown = True
        if not unknown:
            out.append(_Group(quant, frozenset(clients), frozenset(envs), frozenset(roles)))
    return out


def _in_scope(e: Entity, text: str, graph: TwinGraph | None, vocab: _Vocabulary) -> bool:
    """Whether a group the person described in words ("the web tier") includes ``e``."""
    if any(g.holds(e) for g in _groups(text, vocab)):
        return True
    if e.kind is not NodeKind.HOST or graph is None:
        return False
    if not _client_ok(e, text, vocab):
        return False
    for kb in _KB.findall(text):
        for t, src in graph.in_edges(e.id):
            p = graph.get(src)
            if (
                t is EdgeType.PENDING_ON
                and str(p.attrs.get("patch_id", "")).casefold() == kb
                and p.attrs.get("status", "pending") == "pending"
            ):
                return True
    return bool(_REBOOT_PENDING.search(text)) and e.attrs.get("pending_reboot") is True


def named_in_request(e: Entity, texts: Iterable[str], graph: TwinGraph | None = None) -> bool:
    """Whether the trusted request (``texts``: the person's own messages) names ``e``.

    Args:
        e: The entity a proposal would act on.
        texts: The person's current message and their earlier messages in the thread.
        graph: The twin, to read groups the person described ("all contoso servers").
    """
    texts = list(texts)
    if not _plain(e.name):
        # A look-alike name is named only by exactly its own characters.
        return any(_has(t.casefold(), e.name.casefold()) for t in texts)
    norm = [normalise(t) for t in texts]
    handles = _handles(e)
    if any(any(_has(t, h) for h in handles) for t in norm):
        return True
    vocab = _Vocabulary.of(graph)
    # Several clients may have a rule called "Impossible travel sign-in": the client named wins.
    if any(_words_match(e, t) and _client_ok(e, t, vocab) for t in norm):
        return True
    return any(_in_scope(e, t, graph, vocab) for t in norm)


def _client_ok(e: Entity, text: str, vocab: _Vocabulary) -> bool:
    """No client is mentioned, or ``e`` belongs to one that is."""
    mentioned = {slug for word, slug in vocab.clients.items() if _has(text, word)}
    return not mentioned or str(e.attrs.get("client", "")).casefold() in mentioned


# Verb stems that ask for each kind of action (the last part of the action name is the key).
_VERBS: dict[str, tuple[str, ...]] = {
    "reboot": ("reboot", "restart", "bounc", "power cycle", "power-cycle", "cycle"),
    "restart": ("restart", "reboot", "bounc", "recycl", "kick"),
    "apply": ("patch", "updat", "instal", "appl"),
    "disable": ("disabl", "lock", "deactivat", "suspend", "block", "offboard"),
    "revoke": ("revok", "sign out", "sign-out", "log out", "logout", "kill", "terminat"),
    "comment": ("comment", "note", "repl", "add", "post", "writ", "tell"),
    "rotate": ("rotat", "roll", "chang", "reset", "cycl", "renew"),
    "restore": ("restor", "recover", "roll back", "rollback", "bring back"),
    "block": ("block", "ban", "deny", "drop"),
    "add": ("add", "block", "allow", "open", "creat"),
    "throttle": ("throttl", "mute", "silenc", "suppress", "snooz", "quiet", "paus"),
    "escalate": ("escalat", "bump", "rais"),
    "close": ("clos", "resolv", "shut"),
    "remove": ("remov", "delet", "unblock", "drop"),
    "uninstall": ("uninstal", "remov", "roll back", "rollback"),
    "enable": ("enabl", "unlock", "reactivat", "re-enabl"),
    "run": ("run", "execut", "launch"),
}


def action_requested(action: str, texts: Iterable[str]) -> bool:
    """Whether the person's words ask for this kind of action (a verb for it appears)."""
    verb = action.rsplit(".", 1)[-1].split("_", 1)[0].casefold()
    stems = _VERBS.get(verb, (verb,))
    norm = [normalise(t) for t in texts]
    return any(re.search(rf"\b{re.escape(s)}", t) for s in stems for t in norm)


_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b")
_TARGET_KEYS = {"host", "hosts", "user", "users", "target", "targets", "entity", "account"}
_TARGET_KEYS |= {"service", "services"}
_FREE_TEXT_KEYS = {"text", "reason", "note", "comment", "body"}


def param_mentions(params: Mapping[str, Any]) -> list[str]:
    """Parameter values that name things (a host, a user, an address): targets in disguise."""
    out: list[str] = []

    def walk(key: str, value: Any) -> None:
        if key in _FREE_TEXT_KEYS:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(str(k), v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(key, v)
        elif isinstance(value, str):
            if key in _TARGET_KEYS and value.strip():
                out.append(value.strip())
            out.extend(_IP.findall(value) if key not in _TARGET_KEYS else [])

    walk("", dict(params))
    return out


def may_request(roles: RoleMap, requester: str) -> bool:
    """Whether ``requester`` (``team:user``) may request changes.

    The ``requesters`` role limits who may; an absent or empty role means every member of our
    own workspace (settings ``requesters: ["*"]`` becomes an empty role in bootstrap), never a
    person from another workspace (Slack Connect, B11) unless listed. Admins always may.
    """
    team, _, user = requester.partition(":")
    if not team or not user:
        return False
    granted = roles.roles_for(team, user)
    if granted & {"requesters", "admins"}:
        return True
    if roles.team_id is not None and team != roles.team_id:
        return False  # an outsider: only an explicit listing lets them ask
    spec = (roles.data or {}).get("requesters")
    if isinstance(spec, Mapping):
        return not spec.get("users") and not spec.get("usergroups")
    return not spec
