"""Fuzzy name resolution against the twin's entities (rapidfuzz).

A mention resolves in this order, stopping at the first step that gives an answer:
exact id, exact name or id without its kind (``contoso-impossible-travel`` for the rule
``siem_rule:contoso-impossible-travel`` named "Impossible travel"), a unique whole-segment part of a
name (``db-prod-01`` inside ``contoso-ny-db-prod-01``), else of an id, then a fuzzy match that
tolerates small typos (``db-prdo-01``).
Numbers are never fuzzed: ``web-03`` must not become ``web-01`` because the two look alike, so a
candidate whose numbers differ can be suggested but is never chosen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from agent.chat.offline.types import Candidate, Resolution

__all__ = ["TwinNameResolver", "canonical"]

# Below this ratio a name is not even worth suggesting.
_SUGGEST_CUTOFF = 60.0
# A typo is corrected only within this many edits (fewer for short names), and only when the
# runner-up needs at least _EDIT_MARGIN more edits: otherwise the person is asked.
_MAX_EDITS = 2
_EDIT_MARGIN = 2
_NO_RIVAL = 1_000
_MAX_CANDIDATES = 3
_WHOLE = 10_000  # a tail length longer than any name: the whole name
_DERIVATIVE_CHECK_LIMIT = 200

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
    local: str
    """The id without its kind, canonical (``siem_rule:a-b`` -> ``a-b``)."""


class TwinNameResolver:
    """Resolve mentions to twin entities by id, name, unique part of a name, or fuzzily.

    Args:
        entities: ``(id, kind, name, attrs)`` for every entity worth naming in chat.
    """

    def __init__(
        self,
        entities: Iterable[tuple[str, str, str, Mapping[str, Any]]],
        *,
        needs: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        self._needs = needs
        self._entries: list[_Entry] = []
        self._by_id: dict[str, _Entry] = {}
        for entity_id, kind, name, attrs in entities:
            canon = canonical(name)
            local = canonical(entity_id.split(":", 1)[-1])
            entry = _Entry(entity_id, str(kind), name, canon, tuple(canon.split("-")), attrs, local)
            self._entries.append(entry)
            self._by_id[entity_id.lower()] = entry
        # Choice lists for rapidfuzz, built once per (kinds, tail length) and reused.
        self._choices: dict[tuple[tuple[object, ...], int], list[str]] = {}
        self._pools: dict[frozenset[str] | None, list[_Entry]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def name_of(self, entity_id: str) -> str:
        """The display name of ``entity_id`` (the id itself when unknown)."""
        entry = self._by_id.get(entity_id.lower())
        return entry.name if entry else entity_id

    def most_likely(self, entity_ids: Sequence[str]) -> str | None:
        """Of several entities one name fits, the one a question most likely means: the one
        that needs the others ("contoso-erp": the app, which needs its database). ``None``
        when none of them needs another (hosts of two clients): then the person is asked.
        Only read-only questions use this; a change on an ambiguous name is always asked back."""
        if self._needs is None:
            return None
        needs = self._needs
        wanted = set(entity_ids)
        ranked = sorted((-len(set(needs(i)) & wanted), self.name_of(i), i) for i in entity_ids)
        if ranked[0][0] == 0 or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
            return None
        return ranked[0][2]

    def kind_of(self, entity_id: str) -> str | None:
        """The kind of ``entity_id``, or ``None`` when unknown."""
        entry = self._by_id.get(entity_id.lower())
        return entry.kind if entry else None

    def names(self, kind: str) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of ``kind``, sorted by name."""
        return sorted(((e.id, e.name) for e in self._entries if e.kind == kind), key=_by_name)

    def members(self, role: str, kind: str, client: str | None = None) -> list[tuple[str, str]]:
        """Entities of ``kind`` in a role/tier: by ``role``/``tier`` attribute, else by name.

        The name fallback (a whole segment equal to the role, ``contoso-ny-web-01`` for ``web``)
        is used only when no entity of the kind carries the attribute at all. ``client`` (a slug,
        as in ``attrs.client``) keeps one client's entities only.
        """
        role = role.lower()
        pool = [e for e in self._entries if e.kind == kind]
        if client is not None:
            pool = [e for e in pool if str(e.attrs.get("client", "")).lower() == client.lower()]
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

    def fleet(
        self, kind: str, client: str | None = None, *, except_roles: Iterable[str] = ()
    ) -> list[tuple[str, str]]:
        """Every ``(id, name)`` of ``kind`` (one client's, with ``client``), sorted by name.

        ``except_roles`` leaves out entities whose role is one of these ("all servers" is every
        host that is not an ``endpoint``).
        """
        skip = {r.lower() for r in except_roles}
        hits = [
            e
            for e in self._entries
            if e.kind == kind
            and (client is None or str(e.attrs.get("client", "")).lower() == client.lower())
            and str(e.attrs.get("role", "")).lower() not in skip
        ]
        return sorted(((e.id, e.name) for e in hits), key=_by_name)

    def resolve(self, mention: str, kinds: set[str] | None) -> Resolution:
        """Resolve one mention; see the module docstring for the order of the steps.

        A mention that names a client as well ("impossible travel for contoso", "contoso's erp")
        is retried among that client's entities when the plain reading is not unique.
        """
        text = mention.strip().strip(_MENTION_JUNK).strip()
        text = re.sub("['\u2019]s$", "", text)
        if not text:
            return Resolution(mention=mention)
        key = frozenset(kinds) if kinds else None
        result = self._resolve_in(mention, text, self._pool(key), (key, None))
        if result.entity_id is None:
            scoped = self._client_scoped(mention, text, key)
            if scoped is not None and scoped.entity_id is not None:
                return scoped
        return result

    # ------------------------------------------------------------------ internals
    def _resolve_in(
        self, mention: str, text: str, pool: list[_Entry], cache: tuple[object, ...]
    ) -> Resolution:
        exact = self._by_id.get(text.lower())
        if exact is not None and exact in pool:
            return Resolution(mention=mention, entity_id=exact.id, match="id")
        canon = canonical(text)
        named = (
            [e for e in pool if e.name.lower() == text.lower()]
            or [e for e in pool if e.canon == canon]
            # the id without its kind: rules and the like show a title but are known by id
            or [e for e in pool if e.local == canon]
        )
        if named:
            return _decide(mention, named, 100.0, "name")
        # Very short parts ("01", "db") match too much to be chosen on their own.
        if len(canon) >= 3:
            parts = [e for e in pool if _contains_segments(e.canon, canon)] or [
                e for e in pool if e.local != e.canon and _contains_segments(e.local, canon)
            ]
            if parts:
                return _decide(mention, _drop_derivatives(parts), 95.0, "partial")
        return self._fuzzy(mention, canon, pool, cache)

    def _client_scoped(
        self, mention: str, text: str, key: frozenset[str] | None
    ) -> Resolution | None:
        split = re.match(
            r"^(?P<m>.+?)\s+(?:for|at|of|in|from|on)\s+(?:client\s+)?(?P<c>[\w&.-]+)$", text, re.I
        ) or re.match(r"^(?P<c>[\w&.-]+?)(?:'s)?\s+(?P<m>.+)$", text, re.I)
        if split is None:
            return None
        slug = self._client_slug(split.group("c"))
        if slug is None:
            return None
        pool = [e for e in self._pool(key) if str(e.attrs.get("client", "")).lower() == slug]
        return self._resolve_in(mention, split.group("m"), pool, (key, slug))

    def _client_slug(self, word: str) -> str | None:
        canon = canonical(word)
        for entry in self._entries:
            if entry.kind != "client":
                continue
            slug = str(entry.attrs.get("client") or entry.id.split(":", 1)[-1]).lower()
            if canon in (slug, entry.canon) or _contains_segments(entry.canon, canon):
                return slug
        return None

    def _pool(self, key: frozenset[str] | None) -> list[_Entry]:
        pool = self._pools.get(key)
        if pool is None:
            pool = [e for e in self._entries if key is None or e.kind in key]
            self._pools[key] = pool
        return pool

    def _tails(self, cache: tuple[object, ...], pool: list[_Entry], k: int) -> list[str]:
        choices = self._choices.get((cache, k))
        if choices is None:
            choices = ["-".join(e.segments[-k:]) for e in pool]
            self._choices[(cache, k)] = choices
        return choices

    def _fuzzy(
        self, mention: str, canon: str, pool: list[_Entry], cache: tuple[object, ...]
    ) -> Resolution:
        k = len(canon.split("-"))
        # Judge against the whole name and against its last k segments, so a short mention of a
        # long name ("db-prdo-01" for "contoso-ny-db-prod-01") is judged on the part it names.
        full = self._scores(canon, self._tails(cache, pool, _WHOLE))
        tail = self._scores(canon, self._tails(cache, pool, k))
        wanted = _numbers(canon)
        ranked: list[_Scored] = []
        for index in full.keys() | tail.keys():
            entry = pool[index]
            tail_text = "-".join(entry.segments[-k:])
            same = _numbers(tail_text) == wanted or _numbers(entry.canon) == wanted
            score = max(full.get(index, 0.0), tail.get(index, 0.0))
            edits = (OSA.distance(canon, entry.canon), OSA.distance(canon, tail_text))
            ranked.append(_Scored(score, edits[0], min(edits), same, entry))
        ranked.sort(key=lambda r: (-r.score, r.entry.name))
        candidates = [Candidate(r.entry.id, r.entry.name, round(r.score, 1)) for r in ranked]
        kept = {e.id for e in _drop_derivatives([r.entry for r in ranked])}
        shown = [c for c in candidates if c.id in kept] or candidates
        eligible = [r for r in ranked if r.same_numbers and r.entry.id in kept]
        if eligible:
            # Decide on edit counts, not ratios: a ratio dilutes one wrong letter in a long name.
            best = min(eligible, key=lambda r: (r.edits, r.whole_edits, r.entry.name))
            allowed = min(_MAX_EDITS, max(1, len(canon) // 5))
            # A match on the whole name only competes with other whole-name matches.
            on_whole = best.whole_edits == best.edits
            runner_up = min(
                (r.whole_edits if on_whole else r.edits for r in eligible if r is not best),
                default=_NO_RIVAL,
            )
            if best.edits <= allowed and runner_up - best.edits >= _EDIT_MARGIN:
                return Resolution(
                    mention=mention,
                    entity_id=best.entry.id,
                    candidates=shown[:_MAX_CANDIDATES],
                    match="fuzzy",
                )
        return Resolution(mention=mention, candidates=shown[:_MAX_CANDIDATES])

    @staticmethod
    def _scores(canon: str, choices: list[str]) -> dict[int, float]:
        hits = process.extract(
            canon, choices, scorer=fuzz.ratio, limit=10, score_cutoff=_SUGGEST_CUTOFF
        )
        return {index: float(score) for _, score, index in hits}


class _Scored(NamedTuple):
    score: float
    whole_edits: int
    edits: int
    same_numbers: bool
    entry: _Entry


def _by_name(pair: tuple[str, str]) -> str:
    return pair[1].lower()


def _contains_segments(name: str, part: str) -> bool:
    """Whether ``part`` appears in ``name`` on whole segment boundaries."""
    return f"-{part}-" in f"-{name}-"


def _drop_derivatives(entries: list[_Entry]) -> list[_Entry]:
    """Drop entities named after another match ("KB5034441 on web-01" when web-01 matched too)."""
    if len(entries) < 2 or len(entries) > _DERIVATIVE_CHECK_LIMIT:
        return entries
    canons = {e.canon for e in entries}
    kept = [
        e
        for e in entries
        if not any(o != e.canon and _contains_segments(e.canon, o) for o in canons)
    ]
    return kept or entries


def _decide(
    mention: str, entries: list[_Entry], score: float, match: Literal["name", "partial"]
) -> Resolution:
    entries = sorted(entries, key=lambda e: e.name.lower())
    candidates = [Candidate(e.id, e.name, score) for e in entries[: _MAX_CANDIDATES * 2]]
    if len(entries) == 1:
        return Resolution(
            mention=mention, entity_id=entries[0].id, candidates=candidates, match=match
        )
    return Resolution(mention=mention, candidates=candidates, match=match)
