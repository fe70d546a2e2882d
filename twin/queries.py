"""Attribute queries over the in-memory twin, the ones operators ask for by name.

"Hosts of client Contoso missing patch KB5034441", "servers pending reboot", "what has not been
seen for a day at Fabrikam": each is a function of the graph, returning entities sorted the way
a person reads them. The agent's read tools and the CLI call these; they only read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind, utcnow

__all__ = [
    "ENDPOINT_ROLES",
    "entity_detail",
    "hosts_missing_patch",
    "in_scope",
    "pending_reboot",
    "stale",
]

ENDPOINT_ROLES = frozenset({"endpoint", "workstation", "laptop", "desktop"})
"""Host roles that are user devices; every other host role is a server."""


def in_scope(entity: Entity, scope: str | None) -> bool:
    """Whether ``entity`` belongs to ``scope``: a client or site slug, or an entity id of one.

    No scope means everything.
    """
    if not scope:
        return True
    s = scope.split(":", 1)[1] if scope.startswith(("client:", "site:")) else scope
    s = s.lower()
    a = entity.attrs
    return str(a.get("client", "")).lower() == s or str(a.get("site", "")).lower() == s


def hosts_missing_patch(graph: TwinGraph, patch_id: str, client: str | None = None) -> list[Entity]:
    """Active hosts on which ``patch_id`` (e.g. ``KB5034441``) is pending, sorted by name.

    A patch record is ``patch --pending_on--> host`` with ``status`` ``pending`` (records that
    carry no status count as pending: the source reported the patch as applicable).

    Args:
        graph: the twin.
        patch_id: the vendor's patch id; case does not matter.
        client: only hosts of this client (slug or ``client:<slug>``).
    """
    want = patch_id.strip().upper()
    succ = graph.g._succ
    hosts: dict[str, Entity] = {}
    for p in graph.entities(NodeKind.PATCH):
        if not p.active or str(p.attrs.get("patch_id", "")).upper() != want:
            continue
        if p.attrs.get("status", "pending") != "pending":
            continue
        for dst, d in succ[p.id].items():
            if EdgeType.PENDING_ON in d["types"] and dst not in hosts:
                host = graph.get(dst)
                if host.active and in_scope(host, client):
                    hosts[dst] = host
    return sorted(hosts.values(), key=lambda e: e.name)


def pending_reboot(
    graph: TwinGraph,
    client: str | None = None,
    *,
    kind: NodeKind = NodeKind.HOST,
    servers_only: bool = False,
) -> list[Entity]:
    """Active entities of ``kind`` whose ``pending_reboot`` attribute is true, by name.

    Args:
        graph: the twin.
        client: only this client (or site) scope.
        kind: hosts by default; hypervisors also carry the flag.
        servers_only: leave out user devices (roles in :data:`ENDPOINT_ROLES`).
    """
    out = [
        e
        for e in graph.entities(kind)
        if e.active
        and e.attrs.get("pending_reboot") is True
        and in_scope(e, client)
        and not (servers_only and str(e.attrs.get("role", "")) in ENDPOINT_ROLES)
    ]
    return sorted(out, key=lambda e: e.name)


def stale(
    graph: TwinGraph,
    older_than: timedelta,
    scope: str | None = None,
    *,
    kinds: Iterable[NodeKind] | None = None,
    now: datetime | None = None,
) -> list[Entity]:
    """Active entities no source has reported within ``older_than``, oldest first.

    Args:
        graph: the twin.
        older_than: the threshold, e.g. ``timedelta(hours=24)``.
        scope: a client or site (slug or id); None for the whole estate.
        kinds: only these kinds.
        now: the reference time (default: now).
    """
    cutoff = (now or utcnow()) - older_than
    pools = [graph.entities(k) for k in kinds] if kinds else [graph.entities()]
    out = [
        e
        for pool in pools
        for e in pool
        if e.active and e.last_seen < cutoff and in_scope(e, scope)
    ]
    return sorted(out, key=lambda e: (e.last_seen, e.name))


def entity_detail(graph: TwinGraph, entity_id: str) -> dict[str, Any]:
    """One entity with provenance and its direct neighbours, as plain JSON-ready data."""
    e = graph.get(entity_id)

    def brief(eid: str) -> dict[str, Any]:
        n = graph.get(eid)
        return {"id": n.id, "name": n.name, "kind": n.kind.value, "active": n.active}

    return {
        "entity": e.model_dump(mode="json"),
        "needs": [{"type": t.value, **brief(d)} for t, d in graph.out_edges(e.id)],
        "needed_by": [{"type": t.value, **brief(s)} for t, s in graph.in_edges(e.id)],
    }
