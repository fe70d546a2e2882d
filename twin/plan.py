"""Rehearsal: fork the twin, apply the action's effects, check invariants, measure blast radius.

The result is a :class:`Plan`: everything the approver approves and the executor runs, with a
content hash over all of it. Plans are single-use and expire; at execution the read-set is
checked again (:func:`stale_entities`) and a changed read-set makes the plan stale.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from twin.actions import get_action
from twin.fork import Delta, Fork
from twin.graph import TwinGraph, UnknownEntity
from twin.invariants import CheckContext, run_invariants
from twin.model import EdgeType, Entity, utcnow

__all__ = ["PLAN_FORMAT_VERSION", "AffectedEntity", "Plan", "rehearse", "stale_entities"]

PLAN_FORMAT_VERSION = 1
DEFAULT_PLAN_TTL = timedelta(hours=2)
DEFAULT_WAVE_PERCENT = 25


class AffectedEntity(BaseModel):
    """An entity in the rehearsed blast radius."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: str
    criticality: str
    effect: str
    """``down`` or ``degraded``."""
    path: list[str]


class Plan(BaseModel):
    """A rehearsed change: exactly what will be approved and executed."""

    model_config = ConfigDict(frozen=True)

    format_version: int = PLAN_FORMAT_VERSION
    action: str
    targets: list[str]
    target_names: list[str]
    params: dict[str, Any]
    lineage: str
    serial: int
    read_set: dict[str, int]
    deltas: list[dict[str, Any]]
    intended: list[str]
    collateral: list[AffectedEntity]
    invariants: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    rollback: list[dict[str, Any]]
    waves: list[list[str]]
    halt_threshold: float = 0.34
    created_at: datetime
    expires_at: datetime
    hash: str = ""
    reason: str = ""

    def content(self) -> dict[str, Any]:
        """What the hash covers: every field except the hash and timestamps."""
        return self.model_dump(mode="json", exclude={"hash", "created_at", "expires_at"})

    def compute_hash(self) -> str:
        """SHA-256 over the canonical JSON of :meth:`content`."""
        raw = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(b"opshand-plan-v1\x00" + raw.encode()).hexdigest()

    @property
    def short_hash(self) -> str:
        """First 12 hex digits, for people."""
        return self.hash[:12]

    def collateral_summary(self) -> dict[str, Any]:
        """Counts by kind and criticality, for policy and cards."""
        return {
            "intended": len(self.intended),
            "collateral": len(self.collateral),
            "by_kind": dict(Counter(a.kind for a in self.collateral)),
            "by_criticality": dict(Counter(a.criticality for a in self.collateral)),
            "critical_collateral": sum(1 for a in self.collateral if a.criticality == "critical"),
        }

    def invariant_summary(self) -> dict[str, Any]:
        """Counts of failing invariants by severity, and their ids."""
        sev = Counter(i["severity"] for i in self.invariants if not i["passed"])
        return {
            "deny": sev.get("deny", 0),
            "needs_consent": sev.get("needs_consent", 0),
            "warn": sev.get("warn", 0),
            "failed": [i["id"] for i in self.invariants if not i["passed"]],
        }


def _waves(graph: TwinGraph, targets: list[Entity], percent: int) -> list[list[str]]:
    """Canary first, then waves of at most ``percent``% that never hold two instances of one
    service (so redundancy survives every wave)."""
    if len(targets) <= 1:
        return [[t.id for t in targets]]
    ordered = sorted(targets, key=lambda t: (t.attrs.get("patch_ring", "broad") != "canary", t.id))
    waves: list[list[str]] = [[ordered[0].id]]
    size = max(1, math.floor(len(targets) * percent / 100))
    services_of = {
        t.id: {s for ty, s in graph.in_edges(t.id) if ty is EdgeType.RUNS_ON} for t in ordered
    }
    pending = ordered[1:]
    while pending:
        wave: list[str] = []
        used: set[str] = set()
        rest: list[Entity] = []
        for t in pending:
            if len(wave) < size and not services_of[t.id] & used:
                wave.append(t.id)
                used |= services_of[t.id]
            else:
                rest.append(t)
        waves.append(wave)
        pending = rest
    return waves


def rehearse(
    graph: TwinGraph,
    action: str,
    targets: list[str],
    params: dict[str, Any] | None = None,
    *,
    reason: str = "",
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_PLAN_TTL,
    wave_percent: int = DEFAULT_WAVE_PERCENT,
) -> Plan:
    """Rehearse ``action`` on ``targets`` against a fork of ``graph``.

    Raises ``KeyError`` for an unknown action, :class:`~twin.graph.UnknownEntity` for a target
    that does not resolve, and :class:`~twin.actions.InvalidParams` for bad parameters.
    """
    spec = get_action(action)
    p = spec.parse_params(params or {})
    now = now or utcnow()
    ents: list[Entity] = []
    for t in targets:
        e = graph.resolve(t, kinds=set(spec.target_kinds))
        if e.id not in {x.id for x in ents}:
            ents.append(e)
    if not ents:
        raise UnknownEntity("(no target)", [])
    deltas: list[Delta] = []
    for e in ents:
        deltas.extend(spec.effects(graph, e, p))
    fork = Fork(graph, deltas)
    for e in ents:
        fork.entity(e.id)
    outage = fork.outage()
    intended = {e.id for e in ents} | {
        getattr(d, "entity_id", "") for d in deltas if getattr(d, "entity_id", "")
    }
    collateral: list[AffectedEntity] = []
    for effect, table in (("down", outage.down), ("degraded", outage.degraded)):
        for nid, path in table.items():
            if nid in intended:
                continue
            ent = fork.entity(nid)
            collateral.append(
                AffectedEntity(
                    id=nid,
                    name=ent.name,
                    kind=ent.kind.value,
                    criticality=str(ent.attrs.get("criticality", "unknown")),
                    effect=effect,
                    path=list(path),
                )
            )
    collateral.sort(key=lambda a: (a.effect, a.kind, a.id))
    ctx = CheckContext(fork, outage, action, tuple(e.id for e in ents), p.model_dump(), now)
    results = run_invariants(ctx, spec.invariants)
    expected = [x.to_dict() for e in ents for x in spec.expect(graph, e, p)]
    rollback = [{"target": e.id, **spec.rollback(e, p).to_dict()} for e in ents]
    plan = Plan(
        action=action,
        targets=[e.id for e in ents],
        target_names=[e.name for e in ents],
        params=p.model_dump(mode="json"),
        lineage=graph.lineage,
        serial=graph.serial,
        read_set=dict(sorted(fork.read_set.items())),
        deltas=[asdict(d) for d in deltas],
        intended=sorted(intended),
        collateral=collateral,
        invariants=[r.to_dict() for r in results],
        expected=expected,
        rollback=rollback,
        waves=_waves(graph, ents, wave_percent),
        created_at=now,
        expires_at=now + ttl,
        reason=reason,
    )
    return plan.model_copy(update={"hash": plan.compute_hash()})


def stale_entities(plan: Plan, graph: TwinGraph) -> list[str]:
    """Ids in the plan's read-set whose version changed (or that vanished) since rehearsal."""
    g = graph.g
    out = []
    for eid, version in plan.read_set.items():
        if eid not in g or g.nodes[eid]["e"].version != version:
            out.append(eid)
    return out
