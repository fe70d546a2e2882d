"""Validation of inventory batches before they reach the store.

A bad record (unknown kind, missing field, edge not allowed, dangling reference) is rejected with
an error that names the record, the field and why; the rest of the batch still lands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from twin.model import EdgeType, Entity, NodeKind, Relation, edge_allowed, utcnow

__all__ = ["IngestBatch", "Rejection", "ValidatedBatch", "validate_batch"]


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

    ``full_sync`` means the batch is everything the source knows; entities of that source that
    are missing from it become candidates for tombstoning (after the grace period).
    """

    source: str
    entities: list[Entity | Mapping[str, Any]] = field(default_factory=list)
    relations: list[Relation | Mapping[str, Any]] = field(default_factory=list)
    observed_at: datetime = field(default_factory=utcnow)
    full_sync: bool = False
    actor: str = "ingest"
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
        return f"relation #{index} ({raw.get('src', '?')} -{raw.get('type', '?')}-> {raw.get('dst', '?')})"
    return str(raw.get("id") or f"entity #{index}")


def validate_batch(
    batch: IngestBatch, kind_of: Callable[[str], NodeKind | None]
) -> ValidatedBatch:
    """Check each record; ``kind_of`` answers the kind of an already-known entity id."""
    rejections: list[Rejection] = []
    good: dict[str, Entity] = {}
    for i, raw in enumerate(batch.entities):
        name = _record_name(raw, i, "entity")
        if isinstance(raw, Entity):
            ent = raw
        else:
            data = dict(raw)
            data.setdefault("source", batch.source)
            data.setdefault("last_seen", batch.observed_at)
            data.setdefault("first_seen", batch.observed_at)
            if "kind" in data and data["kind"] not in NodeKind.__members__.values():
                rejections.append(Rejection(name, "kind", f"unknown kind '{data['kind']}'"))
                continue
            try:
                ent = Entity.model_validate(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"]) or "?"
                reason = "missing" if err["type"] == "missing" else err["msg"]
                rejections.append(Rejection(name, loc, reason))
                continue
        if not ent.id or not ent.name:
            rejections.append(Rejection(name, "id" if not ent.id else "name", "must not be empty"))
            continue
        good[ent.id] = ent

    def kind(eid: str) -> NodeKind | None:
        e = good.get(eid)
        return e.kind if e is not None else kind_of(eid)

    rels: list[Relation] = []
    for i, raw in enumerate(batch.relations):
        name = _record_name(raw, i, "relation")
        if isinstance(raw, Relation):
            rel = raw
        else:
            data = dict(raw)
            data.setdefault("source", batch.source)
            if "type" in data and data["type"] not in EdgeType.__members__.values():
                rejections.append(Rejection(name, "type", f"unknown edge type '{data['type']}'"))
                continue
            try:
                rel = Relation.model_validate(data)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"]) or "?"
                rejections.append(Rejection(name, loc, err["msg"]))
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
