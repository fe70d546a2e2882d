"""The named set: the entities a person named, computed once from their own words.

Only the trusted text counts (the person's message and their earlier messages in the thread, never
a tool result). Each mention in it resolves through the twin's resolver
(:class:`~agent.chat.offline.TwinNameResolver`): an exact name or id, a unique part of a name
("db-prod-01" when one client has it), or a small typo of one. A mention that fits several
entities ("db-prod-01" across six clients) names none of them: it becomes a question back
("which one: A, B, C?"); the model never chooses. A name written with look-alike letters is named
only by exactly those characters.

Groups ("all contoso servers", "the fabrikam web tier", "hosts missing KB5034441", "servers
pending reboot") count only for actions that declare ``expands_groups``; the card shows the count.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.chat.intent import clean, fold
from agent.chat.offline.resolver import TwinNameResolver
from agent.chat.scope import Vocabulary, in_scope
from agent.chat.siblings import expand_siblings, last_name
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind

__all__ = ["Mention", "NamedSet", "named_set", "resolver_for"]

_MAX_WORDS = 4  # the longest run of words tried as one name ("TCK-1001 printer queue stuck")
_TOKEN = re.compile(r"[^\s,;!?()\[\]{}<>\"`]+")
_EDGE = ".:'"
# Words that are never a name on their own (a resolver may still find them inside one).
_COMMON = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "on",
        "in",
        "at",
        "to",
        "for",
        "from",
        "with",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "my",
        "our",
        "your",
        "their",
        "me",
        "us",
        "we",
        "you",
        "i",
        "please",
        "now",
        "tonight",
        "today",
        "tomorrow",
        "all",
        "every",
        "each",
        "too",
        "also",
        "then",
        "what",
        "which",
        "who",
        "why",
        "how",
        "when",
        "where",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "should",
        "not",
        "don't",
        "no",
        "yes",
        "ok",
        "okay",
        "thanks",
        "server",
        "servers",
        "host",
        "hosts",
        "box",
        "boxes",
        "machine",
        "machines",
        "user",
        "users",
        "account",
        "service",
        "services",
        "ticket",
        "tickets",
        "rule",
        "rules",
        "credential",
        "password",
    ]
)


def resolver_for(graph: TwinGraph) -> TwinNameResolver:
    """The resolver over the twin's active entities, built once per twin version."""
    cached = _RESOLVERS.get(graph)
    if cached is None or cached[0] != graph.serial:
        resolver = TwinNameResolver(
            (e.id, e.kind.value, e.name, e.attrs) for e in graph.entities() if e.active
        )
        cached = (graph.serial, resolver)
        _RESOLVERS[graph] = cached
    return cached[1]


_RESOLVERS: weakref.WeakKeyDictionary[TwinGraph, tuple[int, TwinNameResolver]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Mention:
    """A name in the person's words that fits several entities: the question back."""

    text: str
    candidates: tuple[tuple[str, str], ...]
    """``(entity id, name)`` of the entities it may mean."""


_Kinds = frozenset[str] | None


@dataclass
class NamedSet:
    """What the person named: the phrases of their words that name something, and the texts
    (for groups and literal values). Phrases are resolved per set of accepted kinds, so a name
    shared by a host and a service still names the host for a reboot."""

    phrases: tuple[str, ...]
    texts: tuple[str, ...]
    """The trusted texts, cleaned and folded (quoted material removed)."""
    resolver: TwinNameResolver
    exact: frozenset[str] = field(default_factory=frozenset)
    """Look-alike names written exactly (they are never folded into a plain name)."""
    _cache: dict[_Kinds, tuple[frozenset[str], tuple[Mention, ...]]] = field(
        default_factory=dict, repr=False
    )

    def _resolved(self, kinds: _Kinds) -> tuple[frozenset[str], tuple[Mention, ...]]:
        """The entity ids named (one per phrase) and the phrases that fit several."""
        hit = self._cache.get(kinds)
        if hit is None:
            ids: set[str] = set()
            unclear: list[Mention] = []
            for phrase in self.phrases:
                res = self.resolver.resolve(phrase, set(kinds) if kinds else None)
                if res.entity_id is not None and _accepted(phrase, res.match):
                    ids.add(res.entity_id)
                elif res.entity_id is None and res.match in ("name", "partial"):
                    unclear.append(Mention(phrase, tuple((c.id, c.name) for c in res.candidates)))
            hit = (frozenset(ids), tuple(unclear))
            self._cache[kinds] = hit
        return hit

    @staticmethod
    def _kinds(e: Entity, kinds: Iterable[NodeKind | str] | None) -> frozenset[str]:
        # Without an action's kinds, a name counts among entities of its own kind.
        return frozenset(str(k) for k in kinds) if kinds is not None else frozenset({str(e.kind)})

    def names(self, e: Entity, kinds: Iterable[NodeKind | str] | None = None) -> bool:
        """Whether some phrase of the person's resolves to exactly ``e`` among ``kinds``."""
        if e.name.casefold() in self.exact:
            return True
        if fold(e.name) != e.name.casefold():
            return False  # a look-alike name is named only by exactly its own characters
        return e.id in self._resolved(self._kinds(e, kinds))[0]

    def ambiguous(self, e: Entity, kinds: Iterable[NodeKind | str] | None = None) -> Mention | None:
        """A phrase that fits ``e`` among others: the person must say which one."""
        for m in self._resolved(self._kinds(e, kinds))[1]:
            if any(i == e.id for i, _ in m.candidates):
                return m
        return None

    def covers(
        self,
        e: Entity,
        graph: TwinGraph | None,
        *,
        kinds: Iterable[NodeKind | str] | None = None,
        expands_groups: bool = False,
    ) -> bool:
        """Whether ``e`` was named, or belongs to a group the person described and the action
        declares that it expands groups."""
        if self.names(e, kinds):
            return True
        if not expands_groups or fold(e.name) != e.name.casefold():
            return False
        vocab = Vocabulary.of(graph)
        return any(in_scope(e, t, graph, vocab) for t in self.texts)

    def says(self, value: str) -> bool:
        """Whether ``value`` (an address, a path) appears in the person's words as a whole."""
        v = fold(value).strip()
        if not v:
            return False
        pattern = rf"(?<![\w.\-/:@]){re.escape(v)}(?![\w\-/@]|\.\w)"
        return any(re.search(pattern, t) for t in self.texts)

    @staticmethod
    def question(m: Mention) -> str:
        """The question back for an ambiguous mention: "which one: A, B, C?"."""
        names = [n for _, n in m.candidates]
        return f"'{m.text}' fits several entities; which one: {', '.join(names)}?"


def _accepted(phrase: str, match: str | None) -> bool:
    """Exact and unique partial names count; a typo only in one name-like word."""
    if match in ("id", "name", "partial"):
        return True
    return match == "fuzzy" and " " not in phrase and re.search(r"[\d\-_.]", phrase) is not None


def _phrases(text: str) -> list[str]:
    """Every run of up to four words that could be a name, longest first."""
    words = [w.strip(_EDGE).removesuffix("'s") for w in _TOKEN.findall(text)]
    out: list[str] = []
    for n in range(_MAX_WORDS, 0, -1):
        for i in range(len(words) - n + 1):
            span = words[i : i + n]
            if not all(span) or span[0] in _COMMON or span[-1] in _COMMON:
                continue
            phrase = " ".join(span)
            if n > 1 or len(phrase) >= 3:
                out.append(phrase)
    # "impossible travel for contoso": the client scopes a name several clients share.
    for m in re.finditer(
        r"((?:[\w.\-]+ ){1,4}?)(?:for|at|of|in|from|on) (?:client )?([\w&.\-]+)", text
    ):
        head = m.group(1).split()
        out += [" ".join(head[i:]) + f" for {m.group(2)}" for i in range(len(head))]
    return list(dict.fromkeys(out))


def named_set(texts: Iterable[str], graph: TwinGraph) -> NamedSet:
    """The named set of the trusted ``texts`` (current message first, then earlier ones)."""
    phrases: list[str] = []
    folded: list[str] = []
    exact: set[str] = set()
    given = list(texts)
    for n, text in enumerate(given):
        # "web-prod-01 and -02" names web-prod-02, as the parser reads it; a "-02" with no name
        # before it refers to the last name in the person's previous message.
        before = last_name(given[n + 1]) if n + 1 < len(given) else None
        raw = expand_siblings(text, before)
        cleaned = clean(raw)
        folded.append(cleaned.text)
        phrases += _phrases(cleaned.text)
        exact.update(w.strip(_EDGE) for w in _TOKEN.findall(raw.casefold()) if fold(w) != w)
    return NamedSet(
        phrases=tuple(dict.fromkeys(phrases)),
        texts=tuple(folded),
        resolver=resolver_for(graph),
        exact=frozenset(exact),
    )
