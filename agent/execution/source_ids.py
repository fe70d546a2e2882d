"""Source-system ids of twin entities, and the entities an action reaches through the graph.

Both sides of an integration call use these: :mod:`agent.execution.capabilities` to address
the call, :mod:`agent.execution.observe` to read back what happened. Ids come from entity
attributes (``device_id``, ``user_id``, ``rule_id``, ``number``) or ``source_ref``.
"""

from __future__ import annotations

from typing import Any

from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind

__all__ = [
    "CapabilityError",
    "backup_of",
    "credential_consumers",
    "device_id",
    "firewall_of",
    "hosts_of",
    "qualified_rule",
    "siem_rule_id",
    "ticket_id",
    "user_id",
]


class CapabilityError(RuntimeError):
    """The capability cannot be carried out (missing adapter, missing source id ...)."""


def device_id(ent: Entity) -> str:
    dev = ent.attrs.get("device_id") or ent.source_ref
    if not dev:
        raise CapabilityError(f"{ent.name} has no RMM device id in the twin")
    return str(dev)


def user_id(ent: Entity) -> str:
    return str(ent.attrs.get("user_id") or ent.source_ref or ent.name)


def ticket_id(ent: Entity) -> str:
    return str(ent.source_ref or ent.attrs.get("number") or ent.name)


def siem_rule_id(ent: Entity) -> str:
    return str(ent.attrs.get("rule_id") or ent.source_ref or ent.name)


def hosts_of(graph: TwinGraph, service: Entity, only: str | None) -> list[Entity]:
    hosts = [graph.get(d) for t, d in graph.out_edges(service.id) if t is EdgeType.RUNS_ON]
    if only:
        hosts = [h for h in hosts if only in (h.id, h.name)]
    return hosts


def firewall_of(graph: TwinGraph, target: Entity) -> Entity:
    if target.kind is NodeKind.FIREWALL:
        return target
    fw = next((d for t, d in graph.out_edges(target.id) if t is EdgeType.RULE_OF), None)
    if fw is None:
        raise CapabilityError(f"{target.name} belongs to no firewall in the twin")
    return graph.get(fw)


def qualified_rule(graph: TwinGraph, target: Entity, params: dict[str, Any]) -> str:
    """``<firewall>/<local id>``, the form a manager-wide firewall adapter takes."""
    fw = firewall_of(graph, target)
    local = (
        params.get("rule_id")
        if target.kind is NodeKind.FIREWALL
        else (target.attrs.get("rule_id") or target.source_ref)
    )
    if not local:
        raise CapabilityError(f"no rule id to act on for {target.name}")
    return f"{fw.name}/{local}"


def backup_of(graph: TwinGraph, target: Entity) -> Entity:
    if target.kind is NodeKind.BACKUP:
        return target
    from twin.actions.data import restore_subject

    _, backups = restore_subject(graph, target)
    if not backups:
        raise CapabilityError(f"no backup protects {target.name} in the twin")
    return max(backups, key=lambda b: str(b.attrs.get("last_success", "")))


def credential_consumers(graph: TwinGraph, cred: Entity) -> tuple[Entity, list[Entity]]:
    from twin.actions import ActionContext
    from twin.actions.access import consumers_of, owner_of, rotated_with

    ctx = ActionContext(graph)
    owner = owner_of(ctx, cred)
    if owner is None:
        raise CapabilityError(f"{cred.name} has no owning identity in the twin")
    seen: dict[str, Entity] = {}
    for c in rotated_with(ctx, cred):
        for s in consumers_of(ctx, c):
            seen.setdefault(s.id, s)
    return owner, list(seen.values())
