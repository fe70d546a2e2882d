"""Network and detection actions: temporary firewall rules and SIEM rule throttles."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from twin.actions._base import (
    ActionContext,
    ActionSpec,
    Expectation,
    Params,
    Rollback,
    parse_duration,
    register,
)
from twin.actions._net import Flow, covers, overlaps, parse_net, parse_ports
from twin.fork import AddEdge, AddEntity, Deactivate, Delta, SetAttr
from twin.model import EdgeType, Entity, NodeKind

__all__ = [
    "FirewallAddParams",
    "FirewallRemoveParams",
    "Reach",
    "ThrottleParams",
    "firewall_of",
    "reach",
    "rules_on",
]

InEdges = Callable[[str], Iterable[tuple[EdgeType, str]]]
Get = Callable[[str], Entity]


class FirewallAddParams(Params):
    """``firewall.rule.add`` parameters. Rules are temporary unless ``permanent`` is set."""

    action: Literal["allow", "block"] = "allow"
    source: str = "any"
    destination: str = "any"
    port: str = "any"
    protocol: Literal["tcp", "udp", "any"] = "any"
    expires_in: str | None = "24h"
    """How long the rule lives (``30m``, ``2h``, ``7d``)."""
    permanent: bool = False
    service: str | None = None
    """The service (id or name) the rule is meant to reach: any other flow it opens is flagged."""
    rule_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """Fixed local rule id (rollbacks re-create a removed rule under its old id)."""

    @field_validator("source", "destination")
    @classmethod
    def _net(cls, v: str) -> str:
        parse_net(v)
        return v.strip()

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        parse_ports(str(v))
        return str(v).strip()

    @field_validator("expires_in")
    @classmethod
    def _expiry(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _temporary(self) -> FirewallAddParams:
        if not self.permanent and self.expires_in is None:
            raise ValueError("a temporary rule needs expires_in (or set permanent=true)")
        return self

    @property
    def minutes(self) -> int | None:
        """Lifetime in minutes (``None`` for a permanent rule)."""
        return (
            None if self.permanent or self.expires_in is None else parse_duration(self.expires_in)
        )


class FirewallRemoveParams(Params):
    """``firewall.rule.remove`` parameters (``rule_id`` only when the target is a firewall)."""

    rule_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")


class ThrottleParams(Params):
    """``siem.rule.throttle`` parameters: ``minutes`` or ``expires_in`` (one is required), and
    ``fields``: the alert fields whose repeats are suppressed (Splunk's
    ``alert.suppress.fields``; a per-result rule needs them unless it has its own)."""

    minutes: int | None = Field(default=None, ge=1, le=10080)
    expires_in: str | None = None
    fields: tuple[str, ...] = Field(default=(), max_length=10)

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"not a field name: {name[:60]!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_expiry(cls, data: Any) -> Any:
        # ``expires_in`` is the person's words; ``minutes`` is what policy and execution use.
        if not isinstance(data, dict):
            return data
        exp = data.get("expires_in")
        if exp is not None:
            mins = parse_duration(str(exp))
            if data.get("minutes") is not None and data["minutes"] != mins:
                raise ValueError("minutes and expires_in disagree; give one of them")
            data = {**data, "minutes": mins}
        if data.get("minutes") is None:
            raise ValueError("a throttle needs an expiry: minutes or expires_in")
        return data


class Reach:
    """What a flow reaches behind one firewall: hosts and the services listening on them."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.services: list[str] = []
        self.prod_hosts: list[str] = []


def firewall_of(
    in_or_out: Callable[[str], Iterable[tuple[EdgeType, str]]], rule_id: str
) -> str | None:
    """The firewall a rule belongs to, given the rule's out-edge reader."""
    return next((d for t, d in in_or_out(rule_id) if t is EdgeType.RULE_OF), None)


def rules_on(in_edges: InEdges, firewall_id: str) -> list[str]:
    """Ids of the rules on a firewall."""
    return [s for t, s in in_edges(firewall_id) if t is EdgeType.RULE_OF]


def reach(in_edges: InEdges, get: Get, firewall_id: str, flow: Flow) -> Reach:
    """Hosts behind ``firewall_id`` the flow reaches, and services listening on a matched port."""
    out = Reach()
    seen: set[str] = set()
    for t, seg in in_edges(firewall_id):
        if t is not EdgeType.PROTECTED_BY:
            continue
        cidr = get(seg).attrs.get("cidr")
        try:
            net = parse_net(str(cidr)) if cidr else None
        except ValueError:
            net = None
        if (
            flow.destination is not None
            and net is not None
            and (net.version != flow.destination.version or not net.overlaps(flow.destination))
        ):
            continue
        for tt, host in in_edges(seg):
            if tt is not EdgeType.ATTACHED_TO:
                continue
            h = get(host)
            if not flow.reaches(str(h.attrs.get("ip", "")), None):
                continue
            out.hosts.append(host)
            if h.attrs.get("env") == "prod":
                out.prod_hosts.append(host)
            for t3, svc in in_edges(host):
                if t3 is EdgeType.RUNS_ON and svc not in seen:
                    port = get(svc).attrs.get("port")
                    if flow.ports is None or (isinstance(port, int) and port in flow.ports):
                        seen.add(svc)
                        out.services.append(svc)
    return out


def new_rule_id(fw: Entity, p: FirewallAddParams) -> str:
    """A stable local id for a rule opshand adds (same parameters, same id)."""
    if p.rule_id:
        return p.rule_id
    body = p.model_dump(mode="json", exclude={"service", "rule_id"})
    digest = hashlib.sha256(json.dumps([fw.id, body], sort_keys=True).encode()).hexdigest()
    return f"opshand-{digest[:8]}"


def _add_effects(ctx: ActionContext, fw: Entity, p: FirewallAddParams) -> list[Delta]:
    g = ctx.graph
    local = new_rule_id(fw, p)
    rid = f"firewall_rule:{fw.name}-{local}"
    mins = p.minutes
    attrs: dict[str, Any] = {
        "rule_id": local,
        "action": p.action,
        "source": p.source,
        "destination": p.destination,
        "port": p.port,
        "protocol": p.protocol,
        "expires_at": ctx.at(mins) if mins is not None else None,
        "client": fw.attrs.get("client", ""),
        "site": fw.attrs.get("site", ""),
        "added_by": "opshand",
    }
    deltas: list[Delta] = [
        AddEntity(rid, NodeKind.FIREWALL_RULE.value, f"{fw.name}-{local}", attrs),
        AddEdge(rid, EdgeType.RULE_OF, fw.id),
    ]
    flow = Flow.of(attrs)
    if p.action == "allow":
        r = reach(g.in_edges, g.get, fw.id, flow)
        deltas += [AddEdge(rid, EdgeType.ALLOWS_TRAFFIC, s) for s in r.services]
        return deltas
    # A block rule takes away every allow rule it fully covers; partly covered ones are marked.
    for other in rules_on(g.in_edges, fw.id):
        o = g.get(other)
        if o.attrs.get("action") != "allow":
            continue
        of = Flow.of(o.attrs)
        if covers(flow, of):
            deltas.append(Deactivate(other))
        elif overlaps(flow, of):
            deltas.append(SetAttr(other, "partly_blocked_by", rid))
    return deltas


def _add_rollback(ctx: ActionContext, fw: Entity, p: FirewallAddParams) -> Rollback:
    return Rollback(
        "firewall.rule.remove", (("rule_id", new_rule_id(fw, p)),), note="remove the rule again"
    )


def _remove_target_rule(ctx: ActionContext, target: Entity, p: FirewallRemoveParams) -> str:
    if target.kind is NodeKind.FIREWALL_RULE:
        return target.id
    if not p.rule_id:
        raise ValueError(f"name the rule to remove from {target.name} with rule_id")
    for r in rules_on(ctx.graph.in_edges, target.id):
        if str(ctx.graph.get(r).attrs.get("rule_id")) == p.rule_id:
            return r
    # Not in the twin (an opshand rule being rolled back): remove it on the device by id.
    return ""


def _remove_effects(ctx: ActionContext, target: Entity, p: FirewallRemoveParams) -> list[Delta]:
    rid = _remove_target_rule(ctx, target, p)
    return [Deactivate(rid)] if rid else []


def _remove_rollback(ctx: ActionContext, target: Entity, p: FirewallRemoveParams) -> Rollback:
    rid = _remove_target_rule(ctx, target, p)
    if not rid:
        return Rollback(None, note="the rule was not in the twin; nothing to put back")
    a = ctx.graph.get(rid).attrs
    params: dict[str, Any] = {
        "action": a.get("action", "allow"),
        "source": a.get("source", "any"),
        "destination": a.get("destination", "any"),
        "port": str(a.get("port", "any")),
        "protocol": a.get("protocol", "any") if a.get("protocol") in ("tcp", "udp") else "any",
        "rule_id": str(a.get("rule_id")),
        "permanent": True,
        "expires_in": None,
    }
    return Rollback("firewall.rule.add", tuple(params.items()), note="put the rule back as it was")


def _remove_expect(
    ctx: ActionContext, target: Entity, p: FirewallRemoveParams
) -> list[Expectation]:
    rid = _remove_target_rule(ctx, target, p)
    local = str(ctx.graph.get(rid).attrs.get("rule_id")) if rid else str(p.rule_id)
    return [Expectation(target.id, "firewall_rule_absent", (("rule_id", local),))]


register(
    ActionSpec(
        kind="firewall.rule.add",
        summary="Add a firewall rule (temporary rules carry an expiry)",
        params=FirewallAddParams,
        target_kinds=frozenset({NodeKind.FIREWALL, NodeKind.FIREWALL_RULE}),
        capability="firewall.add_rule",
        idempotent=True,
        effects=lambda c, fw, p: _add_effects(c, _fw(c, fw), p),
        expect=lambda c, fw, p: [
            Expectation(
                fw.id,
                "firewall_rule_present",
                (("rule_id", new_rule_id(_fw(c, fw), p)), ("action", p.action)),
            )
        ],
        rollback=lambda c, fw, p: _add_rollback(c, _fw(c, fw), p),
        invariants=("firewall_flows", "change_window"),
    )
)
register(
    ActionSpec(
        kind="firewall.rule.remove",
        summary="Remove a firewall rule",
        params=FirewallRemoveParams,
        target_kinds=frozenset({NodeKind.FIREWALL_RULE, NodeKind.FIREWALL}),
        capability="firewall.remove_rule",
        idempotent=False,
        effects=_remove_effects,
        expect=_remove_expect,
        rollback=_remove_rollback,
        invariants=("firewall_flows", "change_window"),
    )
)
register(
    ActionSpec(
        kind="siem.rule.throttle",
        summary="Throttle a noisy SIEM rule until an expiry",
        params=ThrottleParams,
        target_kinds=frozenset({NodeKind.SIEM_RULE}),
        capability="siem.throttle_rule",
        idempotent=True,
        effects=lambda c, r, p: [SetAttr(r.id, "throttled_until", c.at(int(p.minutes)))],
        expect=lambda c, r, p: [Expectation(r.id, "rule_throttled")],
        rollback=lambda c, r, p: Rollback(
            None,
            note="suppression works per firing and stays set on the rule after the expiry "
            "(as in Splunk); lift it in the SIEM to undo",
        ),
        invariants=(),
    )
)


def _fw(ctx: ActionContext, target: Entity) -> Entity:
    """The firewall device a rule action works on (the target or the rule's firewall)."""
    if target.kind is NodeKind.FIREWALL:
        return target
    fw = firewall_of(ctx.graph.out_edges, target.id)
    if fw is None:
        raise ValueError(f"{target.name} belongs to no firewall in the twin")
    return ctx.graph.get(fw)
