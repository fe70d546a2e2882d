"""Coverage: which kinds of topology source recently confirmed what depends on an entity.

A blast radius is only as good as the sources behind it. For each host, hypervisor, service and
cluster the twin records which sources confirmed its *dependents* recently, and a level:

- ``full``: declared or inventory sources that can state every impact relation pointing into
  this kind (services ``runs_on`` a host, hosts ``hosted_on`` a hypervisor, services
  ``depends_on`` a service) confirmed it;
- ``partial``: some topology source confirmed it, but not one that states all of those (the trace
  graph alone learns only the calls it saw; NetBox knows the hardware, not what runs on it);
- ``none``: no topology source covers it. Its blast radius is *unknown*, never "nothing".

Levels are written as entity attributes (``coverage``, ``coverage_sources``) under the source
``topology`` by :func:`refresh_coverage`, so the graph, the rehearsal and policy read them like
any other fact, and a plan rehearsed on a coverage that later changes goes stale. Where sources
disagree about ``env``, the same step writes the cautious one
(:func:`twin.provenance.cautious_env`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, select

from twin._entities import aware
from twin._schema import entity_table, observation_table
from twin.ingest import IngestBatch
from twin.model import EdgeType, Entity, NodeKind, utcnow
from twin.provenance import (
    CAPABILITIES,
    Conflict,
    cautious_env,
    claim_table,
    claims_for,
    conflicts,
    source_kind,
)

__all__ = [
    "COVERAGE_SOURCE",
    "COVERED_KINDS",
    "DEFAULT_COVERAGE_WINDOW",
    "NEEDED",
    "Level",
    "coverage_level",
    "coverage_of",
    "find_conflicts",
    "refresh_coverage",
    "uncovered_of",
    "unknown_lines",
]

Level = Literal["full", "partial", "none", "n/a"]

COVERAGE_SOURCE = "topology"
"""The source name coverage and cautious ``env`` values are written under."""

DEFAULT_COVERAGE_WINDOW = timedelta(days=30)
"""How recent an inventory or learned confirmation must be to count."""

_E = EdgeType
NEEDED: dict[NodeKind, frozenset[EdgeType]] = {
    NodeKind.HOST: frozenset({_E.RUNS_ON}),
    NodeKind.HYPERVISOR: frozenset({_E.HOSTED_ON}),
    NodeKind.SERVICE: frozenset({_E.DEPENDS_ON}),
    NodeKind.CLUSTER: frozenset({_E.RUNS_ON}),
}
"""The impact relations a source must be able to state to confirm an entity's dependents."""

COVERED_KINDS = frozenset(NEEDED)
"""Kinds whose dependents come from topology sources; other kinds are ``n/a``."""

_LEAF_ROLES = frozenset({"endpoint"})
"""Host roles nothing runs on: the RMM's device class (a workstation) states that."""


def coverage_of(entity: Entity) -> Level:
    """The entity's coverage level as the twin holds it (``none`` when never computed)."""
    if entity.kind not in COVERED_KINDS:
        return "n/a"
    value = entity.attrs.get("coverage")
    return value if value in ("full", "partial", "none") else "none"


def coverage_level(kind: NodeKind, role: str, confirming: set[str]) -> tuple[Level, list[str]]:
    """The level for an entity of ``kind`` confirmed by ``confirming`` sources.

    Returns:
        (level, the confirming sources, sorted).
    """
    if kind not in COVERED_KINDS:
        return "n/a", []
    topo = sorted(s for s in confirming if s in CAPABILITIES)
    if kind == NodeKind.HOST and role in _LEAF_ROLES and confirming:
        return "full", sorted(confirming)
    needed = NEEDED[kind]
    stated: set[EdgeType] = set()
    for s in topo:
        if source_kind(s) != "learned":
            stated |= CAPABILITIES[s]
    if topo and needed <= stated:
        return "full", topo
    return ("partial", topo) if topo else ("none", [])


def _recent(source: str, at: datetime, attrs: dict[str, Any], cutoff: datetime) -> bool:
    """Whether ``source``'s view counts as a recent confirmation."""
    if source_kind(source) == "declared":
        return True  # a declared catalog holds until it says otherwise
    verified = attrs.get("verified_at")
    if isinstance(verified, str):
        try:
            at = min(at, aware(datetime.fromisoformat(verified)))
        except ValueError:
            return False  # a date we cannot read confirms nothing
    return at >= cutoff


def _gather(
    engine: Engine, cutoff: datetime
) -> tuple[dict[str, Entity], dict[str, set[str]], dict[str, dict[str, str]], dict[str, set[str]]]:
    """Entities of covered kinds; confirming sources; env per source; topology observers."""
    from twin._entities import row_ent

    ents: dict[str, Entity] = {}
    confirming: dict[str, set[str]] = defaultdict(set)
    envs: dict[str, dict[str, str]] = defaultdict(dict)
    observers: dict[str, set[str]] = defaultdict(set)
    kinds = [k.value for k in COVERED_KINDS]
    with engine.connect() as conn:
        for r in conn.execute(
            select(entity_table).where(
                entity_table.c.kind.in_(kinds), entity_table.c.active.is_(True)
            )
        ):
            ents[r.id] = row_ent(r)
        for r in conn.execute(
            select(
                observation_table.c.entity_id,
                observation_table.c.source,
                observation_table.c.last_seen,
                observation_table.c.attrs,
            ).where(observation_table.c.kind.in_(kinds))
        ):
            if r.source == COVERAGE_SOURCE or r.entity_id not in ents:
                continue
            attrs = r.attrs or {}
            env = attrs.get("env")
            if isinstance(env, str) and env:
                envs[r.entity_id][r.source] = env
            if r.source in CAPABILITIES:
                observers[r.entity_id].add(r.source)
            role = str(ents[r.entity_id].attrs.get("role", ""))
            counts = r.source in CAPABILITIES or role in _LEAF_ROLES
            if counts and _recent(r.source, aware(r.last_seen), attrs, cutoff):
                confirming[r.entity_id].add(r.source)
        # a source that claims a relation into the entity recently has seen its dependents too
        for r in conn.execute(
            select(claim_table.c.dst, claim_table.c.source, claim_table.c.last_seen)
        ):
            if r.dst in ents and _recent(r.source, aware(r.last_seen), {}, cutoff):
                confirming[r.dst].add(r.source)
    return ents, confirming, envs, observers


def refresh_coverage(
    store: Any,
    *,
    now: datetime | None = None,
    window: timedelta = DEFAULT_COVERAGE_WINDOW,
    actor: str = "sync",
) -> dict[str, Level]:
    """Recompute every covered entity's level and write what changed; returns id -> level.

    Args:
        store: the :class:`twin.store.TwinStore` (duck-typed: ``engine`` and ``apply``).
        now: the clock (default: now).
        window: how recent an inventory or learned confirmation must be.
        actor: recorded as the change-set's actor.
    """
    now = now or utcnow()
    ents, confirming, envs, _ = _gather(store.engine, now - window)
    out: dict[str, Level] = {}
    records: list[Entity] = []
    for eid, e in ents.items():
        level, sources = coverage_level(e.kind, str(e.attrs.get("role", "")), confirming[eid])
        out[eid] = level
        attrs: dict[str, Any] = {"coverage": level, "coverage_sources": sources}
        by_source = envs.get(eid, {})
        if len(set(by_source.values())) > 1:
            attrs["env"] = cautious_env(by_source.values())  # G2: the cautious reading
        if all(e.attrs.get(k) == v for k, v in attrs.items()):
            continue
        records.append(
            Entity(
                id=eid,
                kind=e.kind,
                name=e.name,
                attrs=attrs,
                source=COVERAGE_SOURCE,
                source_ref=eid,
                first_seen=now,
                last_seen=now,
            )
        )
    if records:
        store.apply(
            IngestBatch(
                source=COVERAGE_SOURCE,
                entities=list(records),
                observed_at=now,
                actor=actor,
                reason="topology coverage",
            )
        )
    return out


def find_conflicts(engine: Engine) -> list[Conflict]:
    """Every disagreement between sources: relations one states and another denies, and ``env``
    values that differ (see :func:`twin.provenance.conflicts`)."""
    ents, _, envs, observers = _gather(engine, datetime.min.replace(tzinfo=utcnow().tzinfo))
    del ents
    with engine.connect() as conn:
        claims = claims_for(conn)
    return conflicts(claims, observers, envs)


def _names(names: list[str], limit: int = 5) -> str:
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def unknown_lines(uncovered: list[dict[str, str]], unknown_env: list[str]) -> list[str]:
    """Sentences for a plan's unknowns, e.g. "blast radius unknown: no topology source covers
    contoso-erp-db" (the card and the answers say them)."""
    out = []
    none = [u["name"] for u in uncovered if u.get("coverage") == "none"]
    part = [u["name"] for u in uncovered if u.get("coverage") == "partial"]
    if none:
        out.append(f"blast radius unknown: no topology source covers {_names(none)}")
    if part:
        out.append(f"blast radius incomplete: only some topology sources cover {_names(part)}")
    if unknown_env:
        out.append(
            f"environment unknown: no source states the environment of {_names(unknown_env)}"
        )
    return out


def uncovered_of(targets: list[Entity], collateral: list[Entity]) -> list[dict[str, str]]:
    """Targets, then collateral, whose coverage is ``none`` or ``partial``."""
    out = []
    for role, ents in (("target", targets), ("collateral", collateral)):
        for e in ents:
            level = coverage_of(e)
            if level in ("none", "partial"):
                out.append({"id": e.id, "name": e.name, "coverage": level, "role": role})
    return out
