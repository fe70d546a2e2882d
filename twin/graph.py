"""The in-memory twin: a networkx graph of entities plus the queries the agent stands on.

Nodes are entity ids; each node's data holds its :class:`~twin.model.Entity`. Edge data holds
``types`` (the set of relation types between the two nodes) so one pair of nodes can be related
in several ways without a multigraph. Traversals read networkx's adjacency dicts directly: they
are the hot path of every answer and every rehearsal.

Two small indexes ride along and are kept current by every mutation: entity ids per kind (so
"all patches" does not scan 100,000 nodes) and, per entity, the entities that need it over an
impact-carrying edge (so a blast radius walks only the ~10% of edges that carry impact). Code
that changes the graph must go through the ``put_*``/``remove_*`` methods, never ``g`` itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx
from rapidfuzz import fuzz, process

from twin.blast import BlastItem, BlastRadius
from twin.model import IMPACT_EDGES, EdgeType, Entity, NodeKind, Relation

__all__ = ["Match", "TwinGraph", "UnknownEntity"]

_SECONDARY = frozenset({NodeKind.PATCH, NodeKind.TICKET, NodeKind.INCIDENT, NodeKind.BACKUP})


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


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


def _impact(types: Iterable[EdgeType]) -> bool:
    return any(t in IMPACT_EDGES for t in types)


# Edge data is shared: every edge with the same set of types points at one read-only dict
# ``{"types": frozenset(...)}``, so 400,000 edges hold a few dozen dicts instead of 400,000
# (about 70 MB at 100k nodes). Changing an edge's types therefore swaps the dict, never edits it.
_EDGE_DATA: dict[frozenset[EdgeType], dict[str, frozenset[EdgeType]]] = {}


def _edge_data(types: frozenset[EdgeType]) -> dict[str, frozenset[EdgeType]]:
    data = _EDGE_DATA.get(types)
    if data is None:
        data = _EDGE_DATA.setdefault(types, {"types": types})
    return data


class TwinGraph:
    """The estate as a directed graph (edges from the thing that needs to the thing needed)."""

    def __init__(self) -> None:
        self.g: nx.DiGraph = nx.DiGraph()
        self.serial: int = 0
        self.lineage: str = ""
        self._by_name: dict[str, str] = {}
        self._by_kind: dict[NodeKind, dict[str, None]] = {k: {} for k in NodeKind}
        # dst -> {src: None} for every edge that carries impact (the reverse impact adjacency)
        self._impact_in: dict[str, dict[str, None]] = {}

    # ------------------------------------------------------------------ mutation
    def put_entity(self, entity: Entity) -> None:
        """Insert or replace an entity (edges are kept)."""
        node = self.g._node.get(entity.id)
        if node is not None:
            old: Entity = node["e"]
            if old.name.lower() != entity.name.lower():
                self._by_name.pop(old.name.lower(), None)
            if old.kind != entity.kind:
                self._by_kind[old.kind].pop(entity.id, None)
            node["e"] = entity
        else:
            self.g.add_node(entity.id, e=entity)
        self._by_kind[entity.kind][entity.id] = None
        self._by_name[entity.name.lower()] = entity.id

    def remove_entity(self, entity_id: str) -> None:
        """Remove an entity and its edges."""
        if entity_id not in self.g:
            return
        e: Entity = self.g._node[entity_id]["e"]
        self._by_name.pop(e.name.lower(), None)
        self._by_kind[e.kind].pop(entity_id, None)
        for dst in self.g._succ[entity_id]:
            self._impact_in.get(dst, {}).pop(entity_id, None)
        self._impact_in.pop(entity_id, None)
        self.g.remove_node(entity_id)

    def put_relation(self, rel: Relation) -> None:
        """Add a relation; both ends must exist."""
        succ, pred = self.g._succ, self.g._pred
        if rel.src not in succ or rel.dst not in succ:
            missing = rel.src if rel.src not in succ else rel.dst
            raise KeyError(f"relation {rel.src} -{rel.type}-> {rel.dst}: no entity '{missing}'")
        data = succ[rel.src].get(rel.dst)
        types = frozenset({rel.type}) if data is None else data["types"] | {rel.type}
        succ[rel.src][rel.dst] = pred[rel.dst][rel.src] = _edge_data(types)
        if rel.type in IMPACT_EDGES:
            self._impact_in.setdefault(rel.dst, {})[rel.src] = None

    def remove_relation(self, src: str, type_: EdgeType, dst: str) -> None:
        """Remove one relation type between two entities (the edge goes when none is left)."""
        data = self.g.get_edge_data(src, dst)
        if data is None:
            return
        left = data["types"] - {type_}
        if left:
            self.g._succ[src][dst] = self.g._pred[dst][src] = _edge_data(left)
        else:
            self.g.remove_edge(src, dst)
        if not _impact(left):
            self._impact_in.get(dst, {}).pop(src, None)

    def bulk_load(self, entities: Iterable[Entity], edges: Iterable[tuple[str, str, str]]) -> None:
        """Fill an empty graph fast by writing networkx's dicts directly.

        ``edges`` are ``(src, type, dst)`` triples whose ends are among ``entities``. This is
        what :meth:`twin.store.TwinStore.load` uses: at 100,000 nodes ``add_node``/``add_edge``
        cost more than reading the database.
        """
        if len(self.g):
            raise ValueError("bulk_load needs an empty graph")
        nodes, succ, pred = self.g._node, self.g._succ, self.g._pred
        by_name, by_kind = self._by_name, self._by_kind
        for e in entities:
            eid = e.id
            nodes[eid] = {"e": e}
            succ[eid] = {}
            pred[eid] = {}
            by_kind[e.kind][eid] = None
            by_name[e.name.lower()] = eid
        types_of = {t.value: t for t in EdgeType}
        single = {t: _edge_data(frozenset({t})) for t in EdgeType}
        impact_in = self._impact_in
        for src, tname, dst in edges:
            t = types_of[tname]
            out = succ[src]
            data = out.get(dst)
            if data is None:
                out[dst] = pred[dst][src] = single[t]
            else:
                out[dst] = pred[dst][src] = _edge_data(data["types"] | {t})
            if t in IMPACT_EDGES:
                ins = impact_in.get(dst)
                if ins is None:
                    impact_in[dst] = {src: None}
                else:
                    ins[src] = None

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
        e: Entity = self.g._node[entity_id]["e"]
        return e

    def entities(self, kind: NodeKind | None = None) -> Iterator[Entity]:
        """All entities, optionally of one kind."""
        nodes = self.g._node
        if kind is not None:
            for eid in list(self._by_kind[kind]):
                yield nodes[eid]["e"]
            return
        for data in list(nodes.values()):
            yield data["e"]

    def relations(self) -> Iterator[Relation]:
        """All relations (one per type per pair)."""
        make = Relation.model_construct  # the graph only holds valid edges: skip validation
        # Every field given: pydantic's model_construct inspects the signature of a default
        # factory on each call otherwise, most of what listing 100,000 relations costs.
        given = {"src", "type", "dst"}
        for src, dst, types in self.g.edges(data="types"):
            for t in sorted(types):
                yield make(given, src=src, type=t, dst=dst, attrs={}, source="sample")

    def out_edges(self, entity_id: str) -> list[tuple[EdgeType, str]]:
        """What ``entity_id`` needs: (type, target id)."""
        return [(t, dst) for dst, d in self.g._succ[entity_id].items() for t in sorted(d["types"])]

    def in_edges(self, entity_id: str) -> list[tuple[EdgeType, str]]:
        """What needs ``entity_id``: (type, source id)."""
        return [(t, src) for src, d in self.g._pred[entity_id].items() for t in sorted(d["types"])]

    def resolve(
        self, mention: str, kinds: set[NodeKind] | None = None, *, fuzzy: bool = True
    ) -> Entity:
        """Find one entity by id, exact name, unique suffix, or (``fuzzy``) confident fuzzy match.

        Raises :class:`UnknownEntity` (with close names) when nothing fits well enough. Commands
        a person types exactly (the CLI) pass ``fuzzy=False``: a misspelling is answered with
        "did you mean", never silently corrected.
        """
        m = mention.strip().strip("`'\"").rstrip("?.,!")
        if m in self.g:
            return self.get(m)
        eid = self._by_name.get(m.lower())
        if eid is not None and (kinds is None or self.get(eid).kind in kinds):
            return self.get(eid)
        low = m.lower()
        suffix = (
            [
                e
                for e in self._pool(kinds)
                if e.name.lower().endswith("-" + low) or e.name.lower().endswith(low)
            ]
            if len(low) >= 4
            else []
        )
        if len(suffix) > 1 and kinds is None:
            # "dev-01" names the host, not the patch records that carry its name
            suffix = [e for e in suffix if e.kind not in _SECONDARY] or suffix
        if len(suffix) == 1:
            return suffix[0]
        matches = self.search(m, kinds=kinds, limit=5)
        if (
            fuzzy
            and matches
            and matches[0].score >= 92
            and (len(matches) == 1 or matches[0].score - matches[1].score >= 3)
            # never "correct" a number: db-prod-09 must not become db-prod-01
            and _digits(matches[0].entity.name).endswith(_digits(m))
        ):
            return matches[0].entity
        names = [x.entity.name for x in matches[:3]] or [e.name for e in suffix[:3]]
        raise UnknownEntity(mention, names)

    def _pool(self, kinds: set[NodeKind] | None) -> Iterator[Entity]:
        if kinds is None:
            yield from self.entities()
            return
        for k in sorted(kinds):
            yield from self.entities(k)

    def search(
        self,
        text: str = "",
        *,
        kinds: set[NodeKind] | None = None,
        where: dict[str, Any] | None = None,
        limit: int = 20,
        include_inactive: bool = False,
    ) -> list[Match]:
        """Fuzzy search by name, restricted by kind and attribute equality.

        Args:
            text: part of a name (typos tolerated); empty lists matches by name.
            kinds: only these kinds.
            where: attribute equality filters, e.g. ``{"client": "contoso", "env": "prod"}``.
            limit: at most this many hits.
            include_inactive: also return tombstoned entities.
        """
        conds = list((where or {}).items())
        pool = [
            e
            for e in self._pool(kinds)
            if (include_inactive or e.active) and all(e.attrs.get(k) == v for k, v in conds)
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
        nodes = self.g._node
        impact_in = self._impact_in
        root = nodes[entity_id]["e"]
        if entity_id not in impact_in:
            return BlastRadius(root, ())  # a leaf: most entities, so skip the set-up
        empty: dict[str, None] = {}
        get = impact_in.get
        # Each item's path is its parent's path plus itself, so building all paths costs one
        # tuple per item instead of a walk back to the root per item. A list with a read index
        # is the queue: the visiting order is the answer's order, and it saves a deque.
        paths: dict[str, tuple[str, ...]] = {entity_id: (entity_id,)}
        order = [entity_id]
        i = 0
        while i < len(order):
            node = order[i]
            i += 1
            base = paths[node]
            for src in get(node, empty):
                if src not in paths:
                    paths[src] = (src, *base)
                    order.append(src)
        found = order[1 : max_items + 1] if max_items else order[1:]
        new = tuple.__new__  # BlastItem(...) goes through a Python-level __new__; this does not
        items = tuple([new(BlastItem, (nodes[s]["e"], paths[s])) for s in found])
        return BlastRadius(root, items)

    def dependencies(self, entity_id: str, *, impact_only: bool = True) -> list[BlastItem]:
        """What ``entity_id`` needs, transitively, with the path from it."""
        succ = self.g._succ
        nodes = self.g._node
        paths: dict[str, tuple[str, ...]] = {entity_id: (entity_id,)}
        queue = deque([entity_id])
        out: list[BlastItem] = []
        while queue:
            node = queue.popleft()
            base = paths[node]
            for dst, d in succ[node].items():
                if dst not in paths and (not impact_only or _impact(d["types"])):
                    p = (*base, dst)
                    paths[dst] = p
                    queue.append(dst)
                    out.append(BlastItem(nodes[dst]["e"], p))
        return out

    def path(self, source: str, target: str) -> list[str] | None:
        """Shortest path of ids between two entities, ignoring edge direction.

        A bidirectional breadth-first search over the adjacency dicts: no undirected copy or
        view of the graph is built, and the search stops where the two frontiers meet.
        """
        succ, pred = self.g._succ, self.g._pred
        if source not in succ:
            raise KeyError(source)
        if target not in succ:
            raise KeyError(target)
        if source == target:
            return [source]
        fwd: dict[str, str | None] = {source: None}
        bwd: dict[str, str | None] = {target: None}
        fq, bq = [source], [target]
        while fq and bq:
            # expand the smaller frontier: keeps hubs from blowing up one side
            if len(fq) <= len(bq):
                fq, meet = self._expand(fq, fwd, bwd, succ, pred)
            else:
                bq, meet = self._expand(bq, bwd, fwd, succ, pred)
            if meet is not None:
                left: list[str] = []
                n: str | None = meet
                while n is not None:
                    left.append(n)
                    n = fwd[n]
                left.reverse()
                n = bwd[meet]
                while n is not None:
                    left.append(n)
                    n = bwd[n]
                return left
        return None

    @staticmethod
    def _expand(
        frontier: list[str],
        seen: dict[str, str | None],
        other: dict[str, str | None],
        succ: dict[str, dict[str, Any]],
        pred: dict[str, dict[str, Any]],
    ) -> tuple[list[str], str | None]:
        nxt: list[str] = []
        for node in frontier:
            for adj in (succ[node], pred[node]):
                for nb in adj:
                    if nb not in seen:
                        seen[nb] = node
                        if nb in other:
                            return nxt, nb
                        nxt.append(nb)
        return nxt, None
