"""Where each relation comes from: per-source claims, ageing of learned relations, conflicts.

``twin_relation`` holds the *effective* edges the graph is built from; ``twin_relation_claim``
holds, per edge, every source that asserts it, with first and last seen, a confidence and the
source's own attributes (a request rate, a CMDB relation type). An edge lives while at least one
source claims it: where sources disagree ("X depends on Y" from the trace graph, nothing from the
CMDB that lists X) the edge is kept, because for a blast radius the more cautious reading is the
one that says something may break (RELIABILITY G2). Both readings stay visible
(:func:`conflicts`).

Sources are of three kinds (:data:`SOURCE_KINDS`): ``declared`` (a catalog file operators keep,
the sample's ground truth), ``inventory`` (a CMDB, a hypervisor or NetBox reporting what is
configured) and ``learned`` (telemetry inferring who calls whom). Learned claims age out after a
time-to-live unless seen again (:func:`expired_claims`); the others go only when their source's
full sync stops reporting them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Float,
    String,
    Table,
    and_,
    delete,
    select,
    tuple_,
)

from twin.db import metadata
from twin.model import EdgeType, Relation

__all__ = [
    "CAPABILITIES",
    "DEFAULT_LEARNED_TTL",
    "SOURCE_KINDS",
    "Claim",
    "Conflict",
    "SourceKind",
    "claim_table",
    "claims_for",
    "confidence_of",
    "conflicts",
    "expired_claims",
    "remaining",
    "source_kind",
]

SourceKind = Literal["declared", "inventory", "learned"]

DEFAULT_LEARNED_TTL = timedelta(hours=168)
"""How long a learned relation lives without being seen again (``twin_learned_ttl_hours``)."""

SOURCE_KINDS: dict[str, SourceKind] = {
    "sample": "declared",
    "catalog": "declared",
    "cmdb": "inventory",
    "vcenter": "inventory",
    "proxmox": "inventory",
    "netbox": "inventory",
    "telemetry": "learned",
}
"""Topology sources by kind; any other source (``rmm``, ``test`` ...) counts as inventory."""

_E = EdgeType
CAPABILITIES: dict[str, frozenset[EdgeType]] = {
    "sample": frozenset(EdgeType),
    "catalog": frozenset({_E.DEPENDS_ON, _E.RUNS_ON}),
    "cmdb": frozenset({_E.DEPENDS_ON, _E.RUNS_ON, _E.HOSTED_ON, _E.MEMBER_OF}),
    "vcenter": frozenset({_E.HOSTED_ON, _E.MEMBER_OF}),
    "proxmox": frozenset({_E.HOSTED_ON, _E.MEMBER_OF}),
    "netbox": frozenset({_E.HOSTED_ON, _E.MEMBER_OF}),
    "telemetry": frozenset({_E.DEPENDS_ON}),
}
"""Which relation types each topology source can state. A source that can state a type and
reports an entity without such a relation is saying "there is none": that is what makes two
sources disagree (:func:`conflicts`) and what coverage counts (:mod:`twin.coverage`)."""

_CONFIDENCE: dict[SourceKind, float] = {"declared": 1.0, "inventory": 0.9, "learned": 0.6}

claim_table = Table(
    "twin_relation_claim",
    metadata,
    Column("src", String(255), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("dst", String(255), primary_key=True, index=True),
    Column("source", String(64), primary_key=True, index=True),
    Column("kind", String(16), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False, index=True),
    Column("confidence", Float, nullable=False),
    Column("attrs", JSON, nullable=False),
)

CLAIM_COLS = (
    "src",
    "type",
    "dst",
    "source",
    "kind",
    "first_seen",
    "last_seen",
    "confidence",
    "attrs",
)

Key = tuple[str, str, str]


def source_kind(source: str) -> SourceKind:
    """``declared``, ``inventory`` or ``learned`` for a source name."""
    return SOURCE_KINDS.get(source, "inventory")


def confidence_of(source: str, attrs: dict[str, Any]) -> float:
    """A claim's confidence: the source's own figure when it gives one, else by kind.

    Learned claims grow surer with traffic: a call path seen at 10 requests per second is less
    likely to be a one-off than one seen once an hour.
    """
    given = attrs.get("confidence")
    if isinstance(given, int | float) and not isinstance(given, bool) and 0 <= given <= 1:
        return float(given)
    kind = source_kind(source)
    if kind == "learned":
        rate = attrs.get("rate")
        if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0:
            return min(0.95, 0.6 + 0.1 * min(rate, 3.5))
    return _CONFIDENCE[kind]


@dataclass(frozen=True, slots=True)
class Claim:
    """One source's assertion of one relation."""

    src: str
    type: str
    dst: str
    source: str
    kind: SourceKind
    first_seen: datetime
    last_seen: datetime
    confidence: float
    attrs: dict[str, Any]

    @property
    def key(self) -> Key:
        """(src, type, dst)."""
        return (self.src, self.type, self.dst)

    def relation(self) -> Relation:
        """The claimed relation as a :class:`~twin.model.Relation`."""
        return Relation(src=self.src, type=EdgeType(self.type), dst=self.dst, source=self.source)


def _claim(row: Any) -> Claim:
    from twin._entities import aware

    return Claim(
        src=row.src,
        type=row.type,
        dst=row.dst,
        source=row.source,
        kind=row.kind,
        first_seen=aware(row.first_seen),
        last_seen=aware(row.last_seen),
        confidence=float(row.confidence),
        attrs=dict(row.attrs or {}),
    )


def record(conn: Connection, source: str, rels: Sequence[Relation], at: datetime) -> None:
    """Upsert ``source``'s claims of ``rels`` seen at ``at`` (first seen kept, never moved back)."""
    if not rels:
        return
    from twin._entities import aware
    from twin._rawsql import RawSQL

    kind = source_kind(source)
    keys = [(r.src, r.type.value, r.dst) for r in rels]
    old: dict[Key, tuple[datetime, datetime]] = {}
    wanted = set(keys)
    # by ``src`` (the primary key's first column), not by row value: SQLite walks the index
    for part in _chunks(sorted({k[0] for k in keys})):
        for row in conn.execute(
            select(
                claim_table.c.src,
                claim_table.c.type,
                claim_table.c.dst,
                claim_table.c.first_seen,
                claim_table.c.last_seen,
            ).where(and_(claim_table.c.src.in_(part), claim_table.c.source == source))
        ):
            k = (row.src, row.type, row.dst)
            if k in wanted:
                old[k] = (aware(row.first_seen), aware(row.last_seen))
    raw = RawSQL(conn)
    rows = []
    done: set[Key] = set()
    for r, k in zip(rels, keys, strict=True):
        if k in done:
            continue
        done.add(k)
        first, last = old.get(k, (at, at))
        rows.append(
            (
                *k,
                source,
                kind,
                raw.dt(min(first, at)),
                raw.dt(max(last, at)),
                confidence_of(source, r.attrs),
                raw.attrs_json(dict(r.attrs)),
            )
        )
    raw.insert(claim_table.name, CLAIM_COLS, rows, upsert_on=("src", "type", "dst", "source"))


def retire(conn: Connection, keys: Iterable[Key], source: str | None) -> list[Key]:
    """Drop claims of ``keys`` (``source``'s, or every source's when ``None``).

    Returns:
        The keys no source claims any more: their edges must go.
    """
    keys = list(dict.fromkeys(keys))
    for part in _chunks(keys):
        cond: ColumnElement[bool] = tuple_(
            claim_table.c.src, claim_table.c.type, claim_table.c.dst
        ).in_(part)
        if source is not None:
            cond = and_(cond, claim_table.c.source == source)
        conn.execute(delete(claim_table).where(cond))
    return [k for k in keys if k not in remaining(conn, keys)]


def remaining(conn: Connection, keys: Sequence[Key]) -> set[Key]:
    """Which of ``keys`` some source still claims."""
    out: set[Key] = set()
    for part in _chunks(list(keys)):
        cond = tuple_(claim_table.c.src, claim_table.c.type, claim_table.c.dst).in_(part)
        out.update(
            (r.src, r.type, r.dst)
            for r in conn.execute(
                select(claim_table.c.src, claim_table.c.type, claim_table.c.dst).where(cond)
            )
        )
    return out


def source_claims(conn: Connection, source: str) -> list[Key]:
    """Every key ``source`` claims."""
    return [
        (r.src, r.type, r.dst)
        for r in conn.execute(
            select(claim_table.c.src, claim_table.c.type, claim_table.c.dst).where(
                claim_table.c.source == source
            )
        )
    ]


def expired_claims(conn: Connection, now: datetime, ttl: timedelta) -> list[Claim]:
    """Learned claims not seen again within ``ttl`` of ``now`` (to age out)."""
    cutoff = now - ttl
    return [
        _claim(r)
        for r in conn.execute(
            select(claim_table).where(
                and_(claim_table.c.kind == "learned", claim_table.c.last_seen < cutoff)
            )
        )
    ]


def claims_for(conn: Connection, keys: Sequence[Key] | None = None) -> list[Claim]:
    """The claims of ``keys`` (every claim when ``None``), ordered by key then source."""
    if keys is None:
        rows = conn.execute(select(claim_table)).all()
    else:
        rows = []
        for part in _chunks(list(keys)):
            cond = tuple_(claim_table.c.src, claim_table.c.type, claim_table.c.dst).in_(part)
            rows += conn.execute(select(claim_table).where(cond)).all()
    return sorted((_claim(r) for r in rows), key=lambda c: (c.key, c.source))


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two sources that disagree, both readings kept.

    ``what`` is ``relation`` (``saying`` claims the relation, ``denying`` reports ``entity``
    without it although it can state that type) or ``attribute`` (``attr`` differs between the
    sources' views; ``values`` maps source -> value). ``used`` is the reading decisions use: the
    more cautious one.
    """

    what: Literal["relation", "attribute"]
    entity: str
    detail: str
    values: dict[str, str]
    used: str

    def __str__(self) -> str:
        said = "; ".join(f"{s}: {v}" for s, v in sorted(self.values.items()))
        return f"{self.entity}: {self.detail} ({said}); decisions use: {self.used}"


ENV_CAUTION = ("prod", "production", "staging", "test", "dev")
"""Environments from most to least cautious: where sources disagree, the first one wins."""


def cautious_env(values: Iterable[str]) -> str:
    """The most production-like of ``values`` (unknown values count as production)."""
    vals = [v for v in values if v]
    if not vals:
        return "unknown"
    rank = {v: i for i, v in enumerate(ENV_CAUTION)}
    return min(vals, key=lambda v: (rank.get(v.lower(), -1), v))


def conflicts(
    claims: Sequence[Claim],
    observed: dict[str, set[str]],
    envs: dict[str, dict[str, str]],
) -> list[Conflict]:
    """Every disagreement between sources.

    Args:
        claims: every relation claim.
        observed: entity id -> the topology sources that report the entity.
        envs: entity id -> source -> the ``env`` that source states.
    """
    by_key: dict[Key, set[str]] = defaultdict(set)
    for c in claims:
        by_key[c.key].add(c.source)
    out: list[Conflict] = []
    for (src, typ, dst), saying in sorted(by_key.items()):
        edge = EdgeType(typ)
        denying = sorted(
            s
            for s in observed.get(src, set())
            if s not in saying and edge in CAPABILITIES.get(s, frozenset()) and s != "sample"
        )
        if not denying:
            continue
        values = {s: "has it" for s in saying} | {s: "does not have it" for s in denying}
        out.append(
            Conflict(
                what="relation",
                entity=src,
                detail=f"{src} -{typ}-> {dst}",
                values=values,
                used="kept (a source says it exists)",
            )
        )
    for eid, by_source in sorted(envs.items()):
        if len(set(by_source.values())) > 1:
            out.append(
                Conflict(
                    what="attribute",
                    entity=eid,
                    detail="env",
                    values=dict(by_source),
                    used=cautious_env(by_source.values()),
                )
            )
    return out


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
