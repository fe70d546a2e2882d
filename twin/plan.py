"""Rehearsal: fork the twin, apply the action's effects, check invariants, measure blast radius.

The result is a :class:`Plan`: everything the approver approves and the executor runs, with a
content hash over all of it. Plans are single-use (the journal enforces it) and expire; at
execution the read-set is checked again (:func:`stale_entities`), a changed read-set makes the
plan stale, and :func:`diff_plans` shows the person what a re-rehearsal changed. How the
targets are split into waves is :mod:`twin.waves`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.actions import ActionContext, InvalidParams, get_action
from twin.coverage import uncovered_of, unknown_lines
from twin.fork import AddEntity, Delta, Fork, Outage, SetAttr
from twin.graph import TwinGraph, UnknownEntity
from twin.invariants import CheckContext, InvariantResult, Violation, run_invariants
from twin.model import Entity, NodeKind, utcnow
from twin.waves import DEFAULT_HALT_THRESHOLD, DEFAULT_WAVE_PERCENT, plan_waves

__all__ = [
    "DEFAULT_PLAN_TTL",
    "PER_WAVE_INVARIANTS",
    "PLAN_FORMAT_VERSION",
    "AffectedEntity",
    "Plan",
    "PlanDiff",
    "diff_plans",
    "rehearse",
    "stale_entities",
]

PLAN_FORMAT_VERSION = 2
DEFAULT_PLAN_TTL = timedelta(hours=2)
_ENV_KINDS = frozenset({NodeKind.HOST, NodeKind.HYPERVISOR, NodeKind.SERVICE, NodeKind.CLUSTER})
"""Kinds that live in an environment (an identity or a ticket does not)."""


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
    wave_plan: list[dict[str, Any]] = Field(default_factory=list)
    """Per wave: index, size, canary, halt_threshold, clients, sites, window, opens_at."""
    halt_threshold: float = DEFAULT_HALT_THRESHOLD
    uncovered: list[dict[str, str]] = Field(default_factory=list)
    """Targets and collateral whose dependents no topology source fully covers: ``id``,
    ``name``, ``coverage`` (``none`` | ``partial``) and ``role`` (``target`` | ``collateral``).
    Their blast radius is unknown or incomplete, never "nothing"."""
    unknown_env: list[str] = Field(default_factory=list)
    """Names of targets whose environment no source states."""
    created_at: datetime
    expires_at: datetime
    hash: str = ""
    reason: str = ""
    tainted: list[str] = Field(default_factory=list)
    """Parameters whose values came from data (a tool result), not the person's own words."""

    def content(self) -> dict[str, Any]:
        """What the hash covers: every field except the hash and timestamps (and ``tainted``
        when empty, so plans made before it existed keep their hashes)."""
        skip = {"hash", "created_at", "expires_at"} | (set() if self.tainted else {"tainted"})
        return self.model_dump(mode="json", exclude=skip)

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
            "unknown": sum(1 for u in self.uncovered if u["coverage"] == "none"),
            "partial": sum(1 for u in self.uncovered if u["coverage"] == "partial"),
        }

    def unknown_lines(self) -> list[str]:
        """What the twin does not know about this change, in words (for cards and answers)."""
        return unknown_lines(self.uncovered, self.unknown_env)

    def invariant_summary(self) -> dict[str, Any]:
        """Counts of failing invariants by severity, and their ids."""
        sev = Counter(i["severity"] for i in self.invariants if not i["passed"])
        return {
            "deny": sev.get("deny", 0),
            "needs_consent": sev.get("needs_consent", 0),
            "warn": sev.get("warn", 0),
            "failed": [i["id"] for i in self.invariants if not i["passed"]],
        }


# ---------------------------------------------------------------------------- rehearsal
def _intended(targets: list[Entity], deltas: list[Delta]) -> set[str]:
    """Targets and whatever the change sets on purpose; entities it only takes down are not."""
    out = {e.id for e in targets}
    for d in deltas:
        if isinstance(d, SetAttr | AddEntity):
            out.add(d.entity_id)
    return out


PER_WAVE_INVARIANTS = frozenset({"replicas", "quorum", "critical_path"})
"""Invariants judged per wave (what is down at one time), not over the whole change. The
management path is judged over the whole change: a rollback after a late wave fails may need
to reach targets of every earlier wave."""


def _merge(parts: list[InvariantResult]) -> InvariantResult:
    """One result from the per-wave results of an invariant (violations de-duplicated)."""
    rows: dict[tuple[str, str], Violation] = {}
    for r in parts:
        for v in r.violations:
            rows.setdefault((v.severity, v.message), v)
    error = next((r.error for r in parts if r.error), None)
    return InvariantResult(parts[0].id, parts[0].description, tuple(rows.values()), error)


def _collateral(fork: Fork, outages: list[Outage], intended: set[str]) -> list[AffectedEntity]:
    """Everything the change takes down or degrades that it does not intend (worst effect)."""
    effect: dict[str, tuple[str, tuple[str, ...]]] = {}
    for out in outages:
        for nid, path in out.down.items():
            if effect.get(nid, ("",))[0] != "down":
                effect[nid] = ("down", path)
        for nid, path in out.degraded.items():
            effect.setdefault(nid, ("degraded", path))
    rows = []
    for nid, (how, path) in effect.items():
        if nid in intended:
            continue
        ent = fork.entity(nid)
        rows.append(
            AffectedEntity(
                id=nid,
                name=ent.name,
                kind=ent.kind.value,
                criticality=str(ent.attrs.get("criticality", "unknown")),
                effect=how,
                path=list(path),
            )
        )
    rows.sort(key=lambda a: (a.effect, a.kind, a.id))
    return rows


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
    settings: Mapping[str, Any] | None = None,
    tainted: Sequence[str] = (),
) -> Plan:
    """Rehearse ``action`` on ``targets`` against a fork of ``graph``.

    ``tainted`` names the parameters whose values came from data rather than the person's words;
    the plan (and so its hash, policy input and card) carries them.

    Raises ``KeyError`` for an unknown action, :class:`~twin.graph.UnknownEntity` for a target
    that does not resolve, and :class:`~twin.actions.InvalidParams` for bad parameters.
    """
    spec = get_action(action)
    p = spec.parse_params(params or {})
    now = now or utcnow()
    kinds = set(spec.target_kinds)
    ents: list[Entity] = []
    seen: set[str] = set()
    for t in targets:
        e = graph.get(t) if t in graph.g else graph.resolve(t, kinds=kinds)
        if e.kind not in kinds:
            allowed = ", ".join(sorted(k.value for k in kinds))
            raise InvalidParams(
                f"{action} cannot target {e.name} (a {e.kind.value}); it acts on: {allowed}"
            )
        if e.id not in seen:
            seen.add(e.id)
            ents.append(e)
    if not ents:
        raise UnknownEntity("(no target)", [])
    actx = ActionContext(graph, now)
    deltas_of: dict[str, list[Delta]] = {}
    try:
        for e in ents:
            deltas_of[e.id] = spec.effects(actx, e, p)
        expected = [x.to_dict() for e in ents for x in spec.expect(actx, e, p)]
        rollback = [{"target": e.id, **spec.rollback(actx, e, p).to_dict()} for e in ents]
    except ValueError as exc:
        raise InvalidParams(f"{action}: {exc}") from exc
    deltas = [d for e in ents for d in deltas_of[e.id]]
    halt = float((settings or {}).get("halt_threshold", DEFAULT_HALT_THRESHOLD))
    waves, wave_plan = plan_waves(graph, ents, wave_percent, now=now, halt_threshold=halt)
    dumped = p.model_dump(mode="json")
    cfg = dict(settings or {})
    fork = Fork(graph, deltas)
    for e in ents:
        fork.entity(e.id)
    outage = fork.outage()
    whole = CheckContext(fork, outage, action, tuple(e.id for e in ents), dumped, now, cfg)
    results = run_invariants(whole, spec.all_invariants)
    read_set = dict(fork.read_set)
    seen_out = [outage]
    if len(waves) > 1:
        # Waves run one after another: capacity is judged per wave, on a fork of that wave.
        per_wave = tuple(i for i in spec.all_invariants if i in PER_WAVE_INVARIANTS)
        by_id: dict[str, list[InvariantResult]] = {i: [] for i in per_wave}
        seen_out = []
        for wave in waves:
            wf = Fork(graph, [d for t in wave for d in deltas_of[t]])
            wo = wf.outage()
            seen_out.append(wo)
            wctx = CheckContext(wf, wo, action, tuple(wave), dumped, now, cfg)
            for r in run_invariants(wctx, per_wave):
                by_id[r.id].append(r)
            read_set.update(wf.read_set)
        results = [_merge(by_id[r.id]) if r.id in by_id else r for r in results]
    intended = _intended(ents, deltas)
    collateral = _collateral(fork, seen_out, intended)
    plan = Plan(
        action=action,
        targets=[e.id for e in ents],
        target_names=[e.name for e in ents],
        params=dumped,
        lineage=graph.lineage,
        serial=graph.serial,
        read_set=dict(sorted(read_set.items())),
        deltas=[asdict(d) for d in deltas],
        intended=sorted(intended),
        collateral=collateral,
        invariants=[r.to_dict() for r in results],
        expected=expected,
        rollback=rollback,
        waves=waves,
        wave_plan=wave_plan,
        halt_threshold=halt,
        uncovered=uncovered_of(ents, [fork.entity(a.id) for a in collateral]),
        unknown_env=[e.name for e in ents if e.kind in _ENV_KINDS and not e.attrs.get("env")],
        created_at=now,
        expires_at=now + ttl,
        reason=reason,
        tainted=sorted(set(tainted)),
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


# ---------------------------------------------------------------------------- diff
class PlanDiff(BaseModel):
    """What changed between two rehearsals of a change (for the person re-approving it)."""

    model_config = ConfigDict(frozen=True)

    old_hash: str
    new_hash: str
    targets_added: list[str] = Field(default_factory=list)
    targets_removed: list[str] = Field(default_factory=list)
    params_changed: dict[str, list[Any]] = Field(default_factory=dict)
    collateral_added: list[str] = Field(default_factory=list)
    collateral_removed: list[str] = Field(default_factory=list)
    collateral_changed: dict[str, list[str]] = Field(default_factory=dict)
    """Entity id -> [old effect, new effect]."""
    invariants_changed: dict[str, list[str]] = Field(default_factory=dict)
    """Invariant id -> [old outcome, new outcome] (``pass`` or the severity)."""
    new_violations: list[str] = Field(default_factory=list)
    read_set_changed: dict[str, list[int | None]] = Field(default_factory=dict)
    """Entity id -> [version seen then, version now] (``None`` = not in that read-set)."""
    waves_changed: bool = False
    deltas_changed: bool = False

    @property
    def unchanged(self) -> bool:
        """True when the two plans have the same content."""
        return self.old_hash == self.new_hash

    def lines(self) -> list[str]:
        """One sentence per difference, most consequential first."""
        out: list[str] = []
        if self.targets_added or self.targets_removed:
            out.append(
                f"targets: +{len(self.targets_added)} -{len(self.targets_removed)} "
                f"({', '.join([*self.targets_added, *self.targets_removed][:5])})"
            )
        for k, (a, b) in self.params_changed.items():
            out.append(f"parameter {k}: {a!r} -> {b!r}")
        for i, (a, b) in self.invariants_changed.items():
            out.append(f"invariant {i}: {a} -> {b}")
        out += [f"new finding: {m}" for m in self.new_violations[:5]]
        if self.collateral_added or self.collateral_removed or self.collateral_changed:
            out.append(
                f"blast radius: +{len(self.collateral_added)} "
                f"-{len(self.collateral_removed)} ~{len(self.collateral_changed)}"
            )
        for eid, (a, b) in list(self.read_set_changed.items())[:10]:
            out.append(f"{eid} changed in the twin (version {a} -> {b})")
        if self.waves_changed:
            out.append("the waves changed")
        return out or ["no difference"]


def _outcome(inv: dict[str, Any]) -> str:
    return "pass" if inv["passed"] else str(inv["severity"])


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """What changed from ``old`` to ``new``: targets, parameters, blast radius, invariant
    outcomes, and read-set versions."""
    ot, nt = set(old.targets), set(new.targets)
    keys = sorted(set(old.params) | set(new.params))
    params = {
        k: [old.params.get(k), new.params.get(k)]
        for k in keys
        if old.params.get(k) != new.params.get(k)
    }
    oc = {a.id: a.effect for a in old.collateral}
    nc = {a.id: a.effect for a in new.collateral}
    oi = {i["id"]: i for i in old.invariants}
    ni = {i["id"]: i for i in new.invariants}
    inv = {
        k: [_outcome(oi[k]) if k in oi else "absent", _outcome(ni[k]) if k in ni else "absent"]
        for k in sorted(set(oi) | set(ni))
    }
    inv = {k: v for k, v in inv.items() if v[0] != v[1]}
    old_msgs = {v["message"] for i in old.invariants for v in i["violations"]}
    fresh = [
        v["message"]
        for i in new.invariants
        for v in i["violations"]
        if v["message"] not in old_msgs
    ]
    rs: dict[str, list[int | None]] = {}
    for eid in sorted(set(old.read_set) | set(new.read_set)):
        a, b = old.read_set.get(eid), new.read_set.get(eid)
        if a != b:
            rs[eid] = [a, b]
    return PlanDiff(
        old_hash=old.hash,
        new_hash=new.hash,
        targets_added=sorted(nt - ot),
        targets_removed=sorted(ot - nt),
        params_changed=params,
        collateral_added=sorted(set(nc) - set(oc)),
        collateral_removed=sorted(set(oc) - set(nc)),
        collateral_changed={k: [oc[k], nc[k]] for k in sorted(set(oc) & set(nc)) if oc[k] != nc[k]},
        invariants_changed=inv,
        new_violations=fresh,
        read_set_changed=rs,
        waves_changed=old.waves != new.waves,
        deltas_changed=old.deltas != new.deltas,
    )
