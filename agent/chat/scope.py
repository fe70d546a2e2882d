"""Groups a person describes in words, and the entities each includes.

"all contoso servers", "the fabrikam web tier", "hosts missing KB5034441", "servers pending
reboot": a group phrase is read from the trusted text against this twin's vocabulary (its client
names and roles). A phrase with a word we cannot place describes nothing. Only actions whose
:class:`~twin.actions.ActionSpec` declares ``expands_groups`` may act on a group.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

from agent.chat.intent import fold, verb_of
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind

__all__ = ["Vocabulary", "client_ok", "in_scope"]


def _has(text: str, handle: str) -> bool:
    """``handle`` occurs in ``text`` as a whole name (not inside a longer hyphenated name)."""
    if not handle:
        return False
    return re.search(rf"(?<![\w.\-]){re.escape(handle)}(?![\w\-])", text) is not None


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
class Vocabulary:
    """Words that describe a group of entities in this twin: client names and roles."""

    clients: dict[str, str]
    roles: frozenset[str]

    @classmethod
    def of(cls, graph: TwinGraph | None) -> Vocabulary:
        if graph is None:
            return cls({}, frozenset())
        # One scan per twin version: a proposal checks up to MAX_TARGETS entities.
        cached = _VOCAB_CACHE.get(graph)
        if cached is None or cached[0] != graph.serial:
            cached = (graph.serial, cls._scan(graph))
            _VOCAB_CACHE[graph] = cached
        return cached[1]

    @classmethod
    def _scan(cls, graph: TwinGraph) -> Vocabulary:
        clients: dict[str, str] = {}
        for c in graph.entities(NodeKind.CLIENT):
            slug = str(c.attrs.get("client", c.id.split(":", 1)[-1])).casefold()
            clients[slug] = slug
            for word in re.findall(r"[\w-]+", fold(c.name)):
                if word not in {"inc", "ltd", "llc", "gmbh", "co", "corp", "traders"}:
                    clients.setdefault(word, slug)
        roles = {
            fold(str(e.attrs["role"]))
            for kind in (NodeKind.HOST, NodeKind.SERVICE)
            for e in graph.entities(kind)
            if e.attrs.get("role")
        }
        return cls(clients, frozenset(roles))


_VOCAB_CACHE: weakref.WeakKeyDictionary[TwinGraph, tuple[int, Vocabulary]] = (
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
            and (not self.roles or fold(str(a.get("role", ""))) in self.roles)
        )


def _groups(text: str, vocab: Vocabulary) -> list[_Group]:
    """Every group phrase in ``text``; one with a word we cannot place describes nothing."""
    tokens = re.findall(r"[\w.-]+", text)
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
            elif verb_of(t) is not None or t in _TIME:
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


def in_scope(e: Entity, text: str, graph: TwinGraph | None, vocab: Vocabulary) -> bool:
    """Whether a group the person described in words ("the web tier") includes ``e``."""
    if any(g.holds(e) for g in _groups(text, vocab)):
        return True
    if e.kind is not NodeKind.HOST or graph is None:
        return False
    if not client_ok(e, text, vocab):
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


def client_ok(e: Entity, text: str, vocab: Vocabulary) -> bool:
    """No client is mentioned, or ``e`` belongs to one that is."""
    mentioned = {slug for word, slug in vocab.clients.items() if _has(text, word)}
    return not mentioned or str(e.attrs.get("client", "")).casefold() in mentioned
