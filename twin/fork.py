"""The rehearsal fork: the base twin plus typed deltas, never a copy.

Creating a fork costs O(deltas): it indexes the deltas and nothing else. Reads go to the overlay
first and fall through to the base graph's adjacency dicts, so a traversal over a fork costs close
to a plain traversal. The base is never mutated. Every entity the fork hands out is recorded in
its read-set (id -> version), which the plan keeps so execution can detect drift.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from twin.graph import TwinGraph
from twin.model import IMPACT_EDGES, EdgeType, Entity, NodeKind

__all__ = [
    "AddEdge",
    "AddEntity",
    "Deactivate",
    "Delta",
    "Fork",
    "Outage",
    "RemoveEdge",
    "SetAttr",
    "delta_from_dict",
]


@dataclass(frozen=True, slots=True)
class SetAttr:
    """Set one attribute of an entity."""

    entity_id: str
    key: str
    value: Any
    op: Literal["set_attr"] = "set_attr"


@dataclass(frozen=True, slots=True)
class Deactivate:
    """Take an entity out of service (down for the duration of the change)."""

    entity_id: str
    op: Literal["deactivate"] = "deactivate"


@dataclass(frozen=True, slots=True)
class AddEdge:
    """Add a relation."""

    src: str
    type: EdgeType
    dst: str
    op: Literal["add_edge"] = "add_edge"


@dataclass(frozen=True, slots=True)
class RemoveEdge:
    """Remove a relation."""

    src: str
    type: EdgeType
    dst: str
    op: Literal["remove_edge"] = "remove_edge"


@dataclass(frozen=True, slots=True)
class AddEntity:
    """Bring a new entity into the fork (a firewall rule the change creates)."""

    entity_id: str
    kind: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    op: Literal["add_entity"] = "add_entity"


Delta = SetAttr | Deactivate | AddEdge | RemoveEdge | AddEntity


def delta_from_dict(d: dict[str, Any]) -> Delta:
    """Rebuild a delta from its ``asdict`` form (as stored in a plan)."""
    op = d.get("op")
    if op == "set_attr":
        return SetAttr(d["entity_id"], d["key"], d["value"])
    if op == "deactivate":
        return Deactivate(d["entity_id"])
    if op == "add_edge":
        return AddEdge(d["src"], EdgeType(d["type"]), d["dst"])
    if op == "remove_edge":
        return RemoveEdge(d["src"], EdgeType(d["type"]), d["dst"])
    if op == "add_entity":
        return AddEntity(d["entity_id"], d["kind"], d["name"], dict(d.get("attrs") or {}))
    raise ValueError(f"unknown delta op {op!r}")


# New entities carry a fixed timestamp so a plan's content (and hash) does not depend on when
# the fork was built; freshness checks skip them (they have no source yet).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Edge types whose targets are redundant instances: losing some of them degrades the source,
# losing all of them takes it down.
_REDUNDANT: frozenset[EdgeType] = frozenset({EdgeType.RUNS_ON})


_NONE: dict[str, Any] = {}


@dataclass(frozen=True)
class Outage:
    """What is down and what is degraded in a fork, each with the path that explains it."""

    down: dict[str, tuple[str, ...]] = field(default_factory=dict)
    degraded: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Fork:
    """A read-only view of ``base`` with ``deltas`` applied, tracking what it read."""

    def __init__(self, base: TwinGraph, deltas: Sequence[Delta] = ()) -> None:
        base_time = _EPOCH
        self.base = base
        self.deltas = tuple(deltas)
        self._attrs: dict[str, dict[str, Any]] = {}
        self._inactive: set[str] = set()
        self._added_out: dict[str, list[tuple[EdgeType, str]]] = {}
        self._added_in: dict[str, list[tuple[EdgeType, str]]] = {}
        self._removed: set[tuple[str, EdgeType, str]] = set()
        self._new: dict[str, Entity] = {}
        self.read_set: dict[str, int] = {}
        for d in self.deltas:
            if isinstance(d, AddEntity):
                self._new[d.entity_id] = Entity(
                    id=d.entity_id,
                    kind=NodeKind(d.kind),
                    name=d.name,
                    attrs=d.attrs,
                    source="rehearsal",
                    first_seen=base_time,
                    last_seen=base_time,
                )
            elif isinstance(d, SetAttr):
                self._attrs.setdefault(d.entity_id, {})[d.key] = d.value
            elif isinstance(d, Deactivate):
                self._inactive.add(d.entity_id)
            elif isinstance(d, AddEdge):
                self._added_out.setdefault(d.src, []).append((d.type, d.dst))
                self._added_in.setdefault(d.dst, []).append((d.type, d.src))
            else:
                self._removed.add((d.src, d.type, d.dst))

    # ------------------------------------------------------------------ entities
    def entity(self, entity_id: str) -> Entity:
        """The entity as the fork sees it (overlay attributes applied); recorded as read."""
        new = self._new.get(entity_id)
        if new is not None:
            e = new
        else:
            e = self.base.get(entity_id)
            self.read_set[entity_id] = e.version
        over = self._attrs.get(entity_id)
        if over:
            e = e.model_copy(update={"attrs": {**e.attrs, **over}})
        return e

    def note_read(self, ids: Iterable[str]) -> None:
        """Record entities a check looked at without fetching them."""
        g = self.base.g
        for i in ids:
            if i in g:
                self.read_set[i] = g.nodes[i]["e"].version

    def active(self, entity_id: str) -> bool:
        """False if the fork deactivates the entity or the base holds it tombstoned."""
        if entity_id in self._inactive:
            return False
        if entity_id in self._new:
            return True
        return bool(self.base.g.nodes[entity_id]["e"].active)

    def exists(self, entity_id: str) -> bool:
        """Whether the entity is in the base or added by the fork."""
        return entity_id in self._new or entity_id in self.base.g

    def is_new(self, entity_id: str) -> bool:
        """Whether the fork itself adds the entity."""
        return entity_id in self._new

    # ------------------------------------------------------------------ edges
    def out_edges(self, entity_id: str) -> Iterator[tuple[EdgeType, str]]:
        """What the entity needs in the fork: (type, target)."""
        for dst, d in self.base.g._succ.get(entity_id, _NONE).items():
            for t in d["types"]:
                if (entity_id, t, dst) not in self._removed:
                    yield t, dst
        yield from self._added_out.get(entity_id, ())

    def in_edges(self, entity_id: str) -> Iterator[tuple[EdgeType, str]]:
        """What needs the entity in the fork: (type, source)."""
        removed = self._removed
        for src, d in self.base.g._pred.get(entity_id, _NONE).items():
            for t in d["types"]:
                if not removed or (src, t, entity_id) not in removed:
                    yield t, src
        yield from self._added_in.get(entity_id, ())

    # ------------------------------------------------------------------ outage
    def outage(self, seeds: Iterable[str] | None = None) -> Outage:
        """Propagate unavailability from the deactivated entities over impact edges.

        A source whose impact edge leads to a down entity goes down, except over redundant
        edges (``runs_on``): there it is degraded while another instance stays up.
        """
        start = list(self._inactive if seeds is None else seeds)
        down: dict[str, tuple[str, ...]] = {s: (s,) for s in start}
        degraded: dict[str, tuple[str, ...]] = {}
        queue = deque(start)
        while queue:
            node = queue.popleft()
            for t, src in self.in_edges(node):
                if src in down or t not in IMPACT_EDGES:
                    continue
                if t in _REDUNDANT:
                    live = [
                        d for tt, d in self.out_edges(src) if tt in _REDUNDANT and d not in down
                    ]
                    self.note_read(live)
                    if live:
                        degraded.setdefault(src, (src, *down[node]))
                        continue
                down[src] = (src, *down[node])
                degraded.pop(src, None)
                queue.append(src)
        self.note_read(down)
        self.note_read(degraded)
        return Outage(down, degraded)
