"""The in-memory twin: a networkx graph of entities plus the queries the agent stands on.

Nodes are entity ids; each node's data holds its :class:`~twin.model.Entity`. Edge data holds
``types`` (the set of relation types between the two nodes) so one pair of nodes can be related
in several ways without a multigraph. Traversals read networkx's adjacency dicts directly: they
are the hot path of every answer and every rehearsal.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from rapidfuzz import fuzz, process

from twin.model import IMPACT_EDGES, EdgeType, Entity, NodeKind, Relation

__all__ = ["BlastItem", "BlastRadius", "Match", "TwinGraph", "UnknownEntity"]

_SECONDARY = frozenset({NodeKind.PATCH, NodeKind.TICKET, NodeKind.INCIDENT, NodeKind.BACKUP})
_CRIT_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class UnknownEntity(LookupError):
    """A name or id that matches no entity; ``suggestions`` holds the closest names."""

    def __init__(self, mention: str, suggestions: list[str]) -> None:
        self.mention = mention
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"I could not find '{mention}' in the twin.{hint}")


@dataclass(frozen=True, slots=True)
class Match:
    """A search hit with its fuzzy score (100 = exact)."""

    entity: Entity
    score: float


@dataclass(frozen=True, slots=True)
class BlastItem:
    """One entity in a blast radius, with the path of ids that explains why it is there."""

    entity: Entity
    path: tuple[str, ...]
    """From the entity itself to the root, following 'needs' edges."""


@dataclass(frozen=True, slots=True)
class BlastRadius:
    """What transitively needs ``root`` over impact-carrying edges."""

    root: Entity
    items: tuple[BlastItem, ...]
    visited: frozenset[str] = field(default_factory=frozenset)

    @property
    def by_kind(self) -> dict[str, int]:
        """Counts of affected entities per kind."""
        return dict(Counter(i.entity.kind.value for i in self.items).most_common())

    @property
    def by_criticality(self) -> dict[str, int]:
        """Counts of affected entities per criticality (where known)."""
        c = Counter(str(i.entity.attrs.get("criticality", "unknown")) for i in self.items)
        return dict(sorted(c.items(), key=lambda kv: _CRIT_ORDER.get(kv[0], 9)))


def _impact(types: Iterable[EdgeType]) -> bool:
    return any(t in IMPACT_EDGES for t in types)


class TwinGraph:
    """The estate as a directed graph (edges from the thing that needs to the thing needed)."""

    def __init__(self) -> None:
        self.g: nx.DiGraph = nx.DiGraph()
        self.serial: int = 0
        self.lineage: str = ""
        self._by_name: dict[str, str] = {}

    # ------------------------------------------------------------------ mutation
    def put_entity(self, entity: Entity) -> None:
        """Insert or replace an entity (edges are kept)."""
        old = self.g.nodes[entity.id]["e"] if entity.id in self.g else None
        if old is not None and old.name != entity.name:
            self._by_name.pop(old.name.lower(), None)
        self.g.add_node(entity.id, e=entity)
        self._by_name[entity.name.lower()] = entity.id

    def remove_entity(self, entity_id: str) -> None:
        """Remove an entity and its edges."""
        if entity_id in self.g:
            self._by_name.pop(self.g.nodes[entity_id]["e"].name.lower(), None)
            self.g.remove_node(entity_id)

    def put_relation(self, rel: Relation) -> None:
        """Add a relation; both ends must exist."""
        data = self.g.get_edge_data(rel.src, rel.dst)
        if data is None:
            self.g.add_edge(rel.src, rel.dst, types=frozenset({rel.type}))
        else:
            data["types"] = data["types"] | {rel.type}

    def remove_relation(self, src: str, type_: EdgeType, dst: str) -> None:
        """Remove one relation type between two entities (the edge goes when none is left)."""
        data = self.g.get_edge_data(src, dst)
        if data is None:
            return
        left = data["types"] - {type_}
        if left:
            data["types"] = left
        else:
            self.g.remove_edge(src, dst)

    # ------------------------------------------------------------------ reads
    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self.g

    def __len__(self) -> int:
        return int(self.g.number_of_nodes())

    @property
    def edge_count(self) -> int:
        """Number of (src, dst) pairs; several relation types on one pair count once."""
        return int(self.g.number_of_edges())

    def get(self, entity_id: str) -> Entity:
        """The entity with this id (KeyError if absent)."""
        e: Entity = self.g.nodes[entity_id]["e"]
        return e

    def entities(self, kind: NodeKind | None = None) -> Iterator[Entity]:
        """All entities, optionally of one kind."""
        for _, data in self.g.nodes(data="e"):
            if kind is None or data.kind == kind:
                yield data

    def relations(self) -> Iterator[Relation]:
        """All relations (one per type per pair)."""
        for src, dst, types in self.g.edges(data="types"):
            for t in sorted(types):
                yield Relation(src=src, type=t, dst=dst)

    def out_edges(self, entity_id: str) -> list[tuple[EdgeType, str]]:
        """What ``entity_id`` needs: (type, target id)."""
        return [(t, dst) for dst, d in self.g._succ[entity_id].items() for t in sorted(d["types"])]

    def in_edges(self, entity_id: str) -> list[tuple[EdgeType, str]]:
        """What needs ``entity_id``: (type, source id)."""
        return [(t, src) for src, d in self.g._pred[entity_id].items() for t in sorted(d["types"])]

    def resolve(self, mention: str, kinds: set[NodeKind] | None = None) -> Entity:
        """Find one entity by id, exact name, unique suffix, or confident fuzzy match.

        Raises :class:`UnknownEntity` (with close names) when nothing fits well enough.
        """
        m = mention.strip().strip("`'\"").rstrip("?.,!")
        if m in self.g:
            return self.get(m)
        eid = self._by_name.get(m.lower())
        if eid is not None and (kinds is None or self.get(eid).kind in kinds):
            return self.get(eid)
        low = m.lower()
        suffix = [
            e for e in self.entities() if (kinds is None or e.kind in kinds)
            and (e.name.lower().endswith("-" + low) or e.name.lower().endswith(low))
        ] if len(low) >= 4 else []
        if len(suffix) > 1 and kinds is None:
            # "dev-01" names the host, not the patch records that carry its name
            suffix = [e for e in suffix if e.kind not in _SECONDARY] or suffix
        if len(suffix) == 1:
            return suffix[0]
        matches = self.search(m, kinds=kinds, limit=5)
        if matches and matches[0].score >= 92 and (
            len(matches) == 1 or matches[0].score - matches[1].score >= 3
        ):
            return matches[0].entity
        names = [x.entity.name for x in matches[:3]] or [e.name for e in suffix[:3]]
        raise UnknownEntity(mention, names)

    def search(
        self,
        text: str = "",
        *,
        kinds: set[NodeKind] | None = None,
        where: dict[str, Any] | None = None,
        limit: int = 20,
    ) -> list[Match]:
        """Fuzzy search by name, restricted by kind and attribute equality."""
        pool = [
            e
            for e in self.entities()
            if (kinds is None or e.kind in kinds)
            and e.active
            and all(e.attrs.get(k) == v for k, v in (where or {}).items())
        ]
        if not text:
            return [Match(e, 100.0) for e in sorted(pool, key=lambda e: e.name)[:limit]]
        by_name = {e.name: e for e in pool}
        hits = process.extract(
            text, list(by_name), scorer=fuzz.WRatio, limit=limit, score_cutoff=60
        )
        return [Match(by_name[name], float(score)) for name, score, _ in hits]

    # ------------------------------------------------------------------ traversals
    def blast_radius(self, entity_id: str, *, max_items: int | None = None) -> BlastRadius:
        """Everything that transitively needs ``entity_id`` over impact edges, with paths."""
        pred = self.g._pred
        parent: dict[str, str] = {entity_id: ""}
        queue = deque([entity_id])
        order: list[str] = []
        while queue:
            node = queue.popleft()
            for src, d in pred[node].items():
                if src not in parent and _impact(d["types"]):
                    parent[src] = node
                    order.append(src)
                    queue.append(src)
        items = []
        for nid in order[:max_items] if max_items else order:
            path = [nid]
            while parent[path[-1]]:
                path.append(parent[path[-1]])
            items.append(BlastItem(self.get(nid), tuple(path)))
        return BlastRadius(self.get(entity_id), tuple(items), frozenset(parent))

    def dependencies(self, entity_id: str, *, impact_only: bool = True) -> list[BlastItem]:
        """What ``entity_id`` needs, transitively, with the path from it."""
        succ = self.g._succ
        parent: dict[str, str] = {entity_id: ""}
        queue = deque([entity_id])
        out: list[BlastItem] = []
        while queue:
            node = queue.popleft()
            for dst, d in succ[node].items():
                if dst not in parent and (not impact_only or _impact(d["types"])):
                    parent[dst] = node
                    queue.append(dst)
                    path = [dst]
                    while parent[path[-1]]:
                        path.append(parent[path[-1]])
                    out.append(BlastItem(self.get(dst), tuple(reversed(path))))
        return out

    def path(self, source: str, target: str) -> list[str] | None:
        """Shortest path of ids between two entities, ignoring edge direction."""
        try:
            p: list[str] = nx.shortest_path(self.g.to_undirected(as_view=True), source, target)
        except nx.NetworkXNoPath:
            return None
        return p
