"""Validation of inventory batches and streaming events before they reach the store.

A bad record (unknown kind, missing field, wrong type of a well-known attribute, edge not
allowed, dangling reference) is rejected with an error that names the record, the field and why;
the rest of the batch still lands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from twin.model import Criticality, EdgeType, Entity, NodeKind, Relation, edge_allowed, utcnow

__all__ = [
    "KNOWN_ATTR_TYPES",
    "EventOp",
    "IngestBatch",
    "Rejection",
    "TwinEvent",
    "ValidatedBatch",
    "iter_chunks",
    "validate_batch",
]

_KINDS = frozenset(k.value for k in NodeKind)
_EDGES = frozenset(t.value for t in EdgeType)
_CRITICALITIES = frozenset(c.value for c in Criticality)

KNOWN_ATTR_TYPES: dict[str, tuple[type, ...]] = {
    "client": (str,),
    "site": (str,),
    "env": (str,),
    "role": (str,),
    "criticality": (str,),
    "pending_reboot": (bool,),
    "reboot_required": (bool,),
    "replicas_min": (int,),
    "quorum": (int,),
    "patch_id": (str,),
    "status": (str,),
    "device_id": (str,),
    "enabled": (bool,),
}
"""Attributes the queries and invariants rely on, with the types they must have."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused record: which, which field, and why."""

    record: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.record}: field '{self.field}': {self.reason}"


@dataclass(frozen=True)
class IngestBatch:
    """What one source reported: raw entity and relation records.

    ``source`` is the observer: the store files every record as ``source``'s view, whatever
    ``source`` field the record itself carries.

    ``full_sync`` means the batch is everything the source knows: its observations of entities
    missing from it are dropped after the grace period (the entity is tombstoned when no source
    observes it any more), and its relations from reported entities that the batch no longer
    holds are removed.
    """

    source: str
    entities: list[Entity | Mapping[str, Any]] = field(default_factory=list)
    relations: list[Relation | Mapping[str, Any]] = field(default_factory=list)
    observed_at: datetime = field(default_factory=utcnow)
    full_sync: bool = False
    actor: str = "ingest"
    reason: str = ""


EventOp = Literal["upsert", "remove", "relate", "unrelate"]


@dataclass(frozen=True)
class TwinEvent:
    """One streamed update from a source (a webhook, an agent check-in, an alert).

    ``upsert`` carries ``entity``; ``remove`` carries ``entity_id`` (the source no longer knows
    it: its observation goes at once, no grace period); ``relate``/``unrelate`` carry
    ``relation``. An ``upsert`` older than the source's last view of the entity is ignored, so
    events that arrive out of order cannot roll a fact back.
    """

    op: EventOp
    source: str
    entity: Entity | Mapping[str, Any] | None = None
    entity_id: str = ""
    relation: Relation | Mapping[str, Any] | None = None
    observed_at: datetime = field(default_factory=utcnow)
    actor: str = "stream"
    reason: str = ""


@dataclass(frozen=True)
class ValidatedBatch:
    """The records that passed, plus the rejections."""

    entities: list[Entity]
    relations: list[Relation]
    rejections: list[Rejection]


def _record_name(raw: Entity | Mapping[str, Any] | Relation, index: int, what: str) -> str:
    if isinstance(raw, Entity):
        return raw.id
    if isinstance(raw, Relation):
        return f"{raw.src} -{raw.type}-> {raw.dst}"
    if what == "relation":
        return (
            f"relation #{index} ({raw.get('src', '?')} -{raw.get('type', '?')}-> "
            f"{raw.get('dst', '?')})"
        )
    return str(raw.get("id") or f"entity #{index}")


def _pydantic_rejection(name: str, exc: ValidationError) -> Rejection:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "?"
    reason = "missing" if err["type"] == "missing" else err["msg"]
    return Rejection(name, loc, reason)


def _attr_problem(attrs: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, why) for the first well-known attribute of the wrong type, else None."""
    for key, types in KNOWN_ATTR_TYPES.items():
        if key not in attrs or attrs[key] is None:
            continue
        value = attrs[key]
        # bool is an int in Python; a count of True replicas is a bug, not a number
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            want = " or ".join(t.__name__ for t in types)
            return f"attrs.{key}", f"must be {want}, got {type(value).__name__} {value!r}"
        if key == "criticality" and value not in _CRITICALITIES:
            return f"attrs.{key}", f"unknown criticality '{value}'"
    return None


def _entity(raw: Entity | Mapping[str, Any], name: str, batch: IngestBatch) -> Entity | Rejection:
    if isinstance(raw, Entity):
        ent = raw
    else:
        data = dict(raw)
        data.setdefault("source", batch.source)
        data.setdefault("last_seen", batch.observed_at)
        data.setdefault("first_seen", batch.observed_at)
        if "kind" in data and data["kind"] not in _KINDS:
            return Rejection(name, "kind", f"unknown kind '{data['kind']}'")
        try:
            ent = Entity.model_validate(data)
        except ValidationError as exc:
            return _pydantic_rejection(name, exc)
    if not ent.id or not ent.name:
        return Rejection(name, "id" if not ent.id else "name", "must not be empty")
    problem = _attr_problem(ent.attrs)
    if problem is not None:
        return Rejection(name, *problem)
    return ent


def _relation(raw: Relation | Mapping[str, Any], name: str, source: str) -> Relation | Rejection:
    if isinstance(raw, Relation):
        return raw
    data = dict(raw)
    data.setdefault("source", source)
    if "type" in data and data["type"] not in _EDGES:
        return Rejection(name, "type", f"unknown edge type '{data['type']}'")
    try:
        return Relation.model_validate(data)
    except ValidationError as exc:
        return _pydantic_rejection(name, exc)


def validate_batch(batch: IngestBatch, kind_of: Callable[[str], NodeKind | None]) -> ValidatedBatch:
    """Check each record; ``kind_of`` answers the kind of an already-known entity id.

    Entities are checked first so a relation may refer to an entity of the same batch. When an
    id appears twice, the later record wins (a source's last word).
    """
    rejections: list[Rejection] = []
    good: dict[str, Entity] = {}
    for i, raw in enumerate(batch.entities):
        name = _record_name(raw, i, "entity")
        got = _entity(raw, name, batch)
        if isinstance(got, Rejection):
            rejections.append(got)
            continue
        known = kind_of(got.id)
        if known is not None and known != got.kind:
            rejections.append(
                Rejection(name, "kind", f"the twin knows it as a {known}, not a {got.kind}")
            )
            continue
        good[got.id] = got

    def kind(eid: str) -> NodeKind | None:
        e = good.get(eid)
        return e.kind if e is not None else kind_of(eid)

    rels: list[Relation] = []
    for i, raw_rel in enumerate(batch.relations):
        name = _record_name(raw_rel, i, "relation")
        rel = _relation(raw_rel, name, batch.source)
        if isinstance(rel, Rejection):
            rejections.append(rel)
            continue
        sk, dk = kind(rel.src), kind(rel.dst)
        if sk is None:
            rejections.append(Rejection(name, "src", f"dangling reference to '{rel.src}'"))
            continue
        if dk is None:
            rejections.append(Rejection(name, "dst", f"dangling reference to '{rel.dst}'"))
            continue
        if not edge_allowed(sk, rel.type, dk):
            rejections.append(
                Rejection(name, "type", f"edge '{rel.type}' not allowed from {sk} to {dk}")
            )
            continue
        rels.append(rel)
    return ValidatedBatch(list(good.values()), rels, rejections)


def iter_chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """Yield consecutive slices of ``items`` of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
