"""Fuzzy name resolution against the twin's entities (rapidfuzz).

A mention resolves in this order, stopping at the first step that gives an answer:
exact id, exact name, a unique whole-segment part of a name (``db-prod-01`` inside
``contoso-ny-db-prod-01``), then a fuzzy match that tolerates small typos (``db-prdo-01``).
Numbers are never fuzzed: ``web-03`` must not become ``web-01`` because the two look alike, so a
candidate whose numbers differ can be suggested but is never chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from agent.offline.types import Candidate, Resolution

__all__ = ["TwinNameResolver", "canonical"]

# Below this a fuzzy match is not even worth suggesting; at or above AUTO it may be chosen.
_SUGGEST_CUTOFF = 60.0
_AUTO_CUTOFF = 85.0
# The best fuzzy match must beat the runner-up by this much to be chosen without asking.
_MARGIN = 8.0
_MAX_CANDIDATES = 3

_SEP = re.compile(r"[-_.\s/:]+")
_NUM = re.compile(r"\d+")
_MENTION_JUNK = "`'\"“”\u2018\u2019<>()[]{},;!?"


def canonical(text: str) -> str:
    """Lower-case, one ``-`` between segments, numbers without leading zeros."""
    lowered = _SEP.sub("-", text.strip().lower()).strip("-")
    return _NUM.sub(lambda m: str(int(m.group())), lowered)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUM.findall(text))


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    kind: str
    name: str
    canon: str
    segments: tuple[str, ...]
    attrs: Mapping[str, Any]


class TwinNameResolver:
    """Resolve mentions to twin entities by id, name, unique part of a name, or fuzzily.

    Args:
        entities: ``(id, kind, name, attrs)`` for every entity worth naming in chat.
    """

    def __init__(self, entities: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        self._entries: list[_Entry] = []
        self._by_id: dict[str, _Entry] = {}
        for entity_id, kind, name, attrs in entities:
            canon = canonical(name)
            entry = _Entry(entity_id, str(kind), name, canon, tuple(canon.split("-")), attrs)
            self._entries.append(entry)
            self._by_id[entity_id.lower()] = entry
        # Choice lists for rapidfuzz, built once per (kinds, tail length) and reused.
        self._choices: dict[tuple[frozenset[str] | None, int], list[str]] = {}
        self._pools: dict[frozenset[str] | None, list[_Entry]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def name_of(self, entity_id: str) -> str:
        """The display name of ``entity_id`` (the id itself when unknown)."""
        entry = self._by_id.get(entity_id.lower())
        return entry.name if entry else entity_id

    def kind_of(self, entity_id: str) -> str | None:
        """The kind of ``entity_id``, or ``None`` when unknown."""
        entry = self._by_id.get(entity_id.lower())
        return entry.kind if entry else None

    def names(self, kind: str) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of ``kind``, sorted by name."""
        return sorted(((e.id, e.name) for e in self._entries if e.kind == kind), key=_by_name)

    def members(self, role: str, kind: str) -> list[tuple[str, str]]:
        """Entities of ``kind`` in a role/tier: by ``role``/``tier`` attribute, else by name.

        The name fallback (a whole segment equal to the role, ``contoso-ny-web-01`` for ``web``)
        is used only when no entity of the kind carries the attribute at all.
        """
        role = role.lower()
        pool = [e for e in self._entries if e.kind == kind]
        tagged = [e for e in pool if "role" in e.attrs or "tier" in e.attrs]
        if tagged:
            hits = [
                e
                for e in tagged
                if role in (str(e.attrs.get(k, "")).lower() for k in ("role", "tier"))
            ]
        else:
            hits = [e for e in pool if role in e.segments]
        return sorted(((e.id, e.name) for e in hits), key=_by_name)

    def resolve(self, mention: str, kinds: set[str] | None) -> Resolution:
        """Resolve one mention; see the module docstring for the order of the steps."""
        text = mention.strip().strip(_MENTION_JUNK).strip()
        text = re.sub("['\u2019]s$", "", text)
        if not text:
            return Resolution(mention=mention)
        key = frozenset(kinds) if kinds else None
        pool = self._pool(key)
        exact = self._by_id.get(text.lower())
        if exact is not None and (key is None or exact.kind in key):
            return Resolution(mention=mention, entity_id=exact.id, match="id")
        canon = canonical(text)
        named = [e for e in pool if e.name.lower() == text.lower()] or [
            e for e in pool if e.canon == canon
        ]
        if named:
            return _decide(mention, named, 100.0, "name")
        # Very short parts ("01", "db") match too much to be chosen on their own.
        if len(canon) >= 3:
            parts = [e for e in pool if _contains_segments(e.canon, canon)]
            if parts:
                return _decide(mention, parts, 95.0, "partial")
        return self._fuzzy(mention, canon, key, pool)

    # ------------------------------------------------------------------ internals
    def _pool(self, key: frozenset[str] | None) -> list[_Entry]:
        pool = self._pools.get(key)
        if pool is None:
            pool = [e for e in self._entries if key is None or e.kind in key]
            self._pools[key] = pool
        return pool

    def _tails(self, key: frozenset[str] | None, pool: list[_Entry], k: int) -> list[str]:
        choices = self._choices.get((key, k))
        if choices is None:
            choices = ["-".join(e.segments[-k:]) for e in pool]
            self._choices[(key, k)] = choices
        return choices

    def _fuzzy(
        self, mention: str, canon: str, key: frozenset[str] | None, pool: list[_Entry]
    ) -> Resolution:
        k = len(canon.split("-"))
        scores: dict[int, float] = {}
        # Compare with the whole name and with its last k segments, so a short mention of a long
        # name ("db-prdo-01" for "contoso-ny-db-prod-01") is judged on the part it names.
        for choices in (self._tails(key, pool, 10_000), self._tails(key, pool, k)):
            for _, score, index in process.extract(
                canon, choices, scorer=fuzz.ratio, limit=10, score_cutoff=_SUGGEST_CUTOFF
            ):
                scores[index] = max(scores.get(index, 0.0), float(score))
        wanted = _numbers(canon)
        ranked: list[tuple[float, bool, _Entry]] = []
        for index, score in scores.items():
            entry = pool[index]
            tail = "-".join(entry.segments[-k:])
            same_numbers = _numbers(tail) == wanted or _numbers(entry.canon) == wanted
            ranked.append((score, same_numbers, entry))
        ranked.sort(key=lambda r: (-r[0], r[2].name))
        candidates = [Candidate(e.id, e.name, round(s, 1)) for s, _, e in ranked[:_MAX_CANDIDATES]]
        eligible = [r for r in ranked if r[1]]
        if eligible and eligible[0][0] >= _AUTO_CUTOFF:
            best = eligible[0]
            runner_up = eligible[1][0] if len(eligible) > 1 else 0.0
            if best[0] - runner_up >= _MARGIN:
                return Resolution(
                    mention=mention, entity_id=best[2].id, candidates=candidates, match="fuzzy"
                )
        return Resolution(mention=mention, candidates=candidates)


def _by_name(pair: tuple[str, str]) -> str:
    return pair[1].lower()


def _contains_segments(name: str, part: str) -> bool:
    """Whether ``part`` appears in ``name`` on whole segment boundaries."""
    return f"-{part}-" in f"-{name}-"


def _decide(mention: str, entries: list[_Entry], score: float, match: str) -> Resolution:
    entries = sorted(entries, key=lambda e: e.name.lower())
    candidates = [Candidate(e.id, e.name, score) for e in entries[: _MAX_CANDIDATES * 2]]
    if len(entries) == 1:
        return Resolution(
            mention=mention, entity_id=entries[0].id, candidates=candidates, match=match
        )
    return Resolution(mention=mention, candidates=candidates)
