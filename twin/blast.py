"""A blast radius: what transitively needs an entity, with the path that explains each item.

:meth:`twin.graph.TwinGraph.blast_radius` and :meth:`~twin.graph.TwinGraph.dependencies` build
these; rehearsals, cards and the CLI read them.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from twin.model import Entity

__all__ = ["BlastItem", "BlastRadius"]

_CRIT_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class BlastItem(NamedTuple):
    """One entity in a blast radius, with the path of ids that explains why it is there.

    A named tuple rather than a dataclass: a hub's radius holds tens of thousands of items and
    building them is most of what a blast radius costs beyond the traversal itself.
    """

    entity: Entity
    path: tuple[str, ...]
    """From the entity itself to the root, following 'needs' edges."""


class BlastRadius:
    """What transitively needs ``root`` over impact-carrying edges (read-only by convention)."""

    __slots__ = ("_visited", "items", "root")

    def __init__(
        self,
        root: Entity,
        items: tuple[BlastItem, ...],
        visited: frozenset[str] | None = None,
    ) -> None:
        self.root = root
        self.items = items
        self._visited = visited

    def __repr__(self) -> str:
        return f"BlastRadius(root={self.root.id!r}, items={len(self.items)})"

    @property
    def visited(self) -> frozenset[str]:
        """Ids of the root and every affected entity."""
        if self._visited is None:
            self._visited = frozenset([self.root.id, *(i.entity.id for i in self.items)])
        return self._visited

    @property
    def by_kind(self) -> dict[str, int]:
        """Counts of affected entities per kind."""
        return dict(Counter(i.entity.kind.value for i in self.items).most_common())

    @property
    def by_criticality(self) -> dict[str, int]:
        """Counts of affected entities per criticality (where known)."""
        c = Counter(str(i.entity.attrs.get("criticality", "unknown")) for i in self.items)
        return dict(sorted(c.items(), key=lambda kv: _CRIT_ORDER.get(kv[0], 9)))

    def grouped(self) -> dict[str, dict[str, list[BlastItem]]]:
        """Items grouped by kind, then by criticality (most critical first, shortest path first)."""
        out: dict[str, dict[str, list[BlastItem]]] = {}
        ordered = sorted(
            self.items,
            key=lambda i: (_CRIT_ORDER.get(str(i.entity.attrs.get("criticality")), 9), len(i.path)),
        )
        for item in ordered:
            crit = str(item.entity.attrs.get("criticality", "unknown"))
            out.setdefault(item.entity.kind.value, {}).setdefault(crit, []).append(item)
        return out
