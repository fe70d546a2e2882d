"""Access checks: credential consumers, the last admin, and firewall flows."""

from __future__ import annotations

from twin.actions._net import Flow, covers, overlaps, parse_net
from twin.actions.network import firewall_of, reach, rules_on
from twin.fork import AddEntity, Deactivate, SetAttr
from twin.invariants._core import CheckContext, Violation
from twin.model import EdgeType, Entity, NodeKind

__all__ = ["credential_consumers", "firewall_flows", "last_admin"]


def _updatable(ctx: CheckContext, svc: str) -> bool:
    fork = ctx.fork
    return any(
        t is EdgeType.RUNS_ON and fork.entity(d).attrs.get("device_id")
        for t, d in fork.out_edges(svc)
    )


def credential_consumers(ctx: CheckContext) -> list[Violation]:
    """A credential rotation leaves no consumer without a valid secret.

    Every consumer must be one opshand can point at the new secret; and where the credential
    supports overlap the rotation must use it (long enough), so nothing fails in between.
    """
    fork = ctx.fork
    overlap = int(ctx.params.get("overlap_minutes", 0) or 0)
    floor = int(ctx.setting("min_overlap_minutes"))
    rows: list[Violation] = []
    rotated = [
        d.entity_id
        for d in fork.deltas
        if isinstance(d, SetAttr)
        and d.key == "version"
        and fork.entity(d.entity_id).kind is NodeKind.CREDENTIAL
    ]
    for cid in rotated:
        cred = fork.entity(cid)
        supports = bool(cred.attrs.get("supports_overlap", False))
        for t, svc in fork.in_edges(cid):
            if t is not EdgeType.USES_CREDENTIAL:
                continue
            name = fork.entity(svc).name
            if not _updatable(ctx, svc):
                rows.append(
                    Violation(
                        "credential_consumers",
                        "deny",
                        f"{name} uses {cred.name} but runs on no managed host, so it cannot "
                        f"be given the new secret and would be left with an invalid one",
                        (cid, svc),
                    )
                )
            elif not supports:
                rows.append(
                    Violation(
                        "credential_consumers",
                        "needs_consent",
                        f"{cred.name} does not support overlap: {name} fails from the rotation "
                        f"until it is updated",
                        (cid, svc),
                    )
                )
            elif overlap == 0:
                rows.append(
                    Violation(
                        "credential_consumers",
                        "needs_consent",
                        f"{cred.name} supports overlap but overlap_minutes is 0: {name} fails "
                        f"until it is updated",
                        (cid, svc),
                    )
                )
            elif overlap < floor:
                rows.append(
                    Violation(
                        "credential_consumers",
                        "warn",
                        f"an overlap of {overlap} min may be too short to update {name} "
                        f"(at least {floor} min advised)",
                        (cid, svc),
                    )
                )
    return rows


def _is_admin(e: Entity) -> bool:
    return bool(e.attrs.get("admin")) and not e.attrs.get("break_glass")


def _admins_left(ctx: CheckContext, user: Entity, leaving: set[str]) -> tuple[list[str], str]:
    """Other live admins of the user's client, and where they were looked for."""
    fork = ctx.fork
    groups = [
        d
        for t, d in fork.out_edges(user.id)
        if t is EdgeType.MEMBER_OF and fork.entity(d).attrs.get("privileged")
    ]
    if groups:
        pool = {s for g in groups for t, s in fork.in_edges(g) if t is EdgeType.MEMBER_OF}
        where = ", ".join(fork.entity(g).name for g in groups)
    else:
        # No privileged group in the twin: fall back to every identity of the client.
        client = user.attrs.get("client")
        pool = {
            e.id for e in fork.base.entities(NodeKind.IDENTITY) if e.attrs.get("client") == client
        }
        where = f"client {client}"
    left = []
    for uid in sorted(pool - leaving):
        e = fork.entity(uid)
        if _is_admin(e) and fork.active(uid) and e.attrs.get("status", "active") != "disabled":
            left.append(uid)
    return left, where


def last_admin(ctx: CheckContext) -> list[Violation]:
    """Never disable a break-glass identity, nor the last admin of a client."""
    fork = ctx.fork
    leaving = set(ctx.targets)
    rows: list[Violation] = []
    for tid in ctx.targets:
        user = fork.base.get(tid)
        fork.note_read([tid])
        if user.attrs.get("break_glass"):
            rows.append(
                Violation("last_admin", "deny", f"{user.name} is a break-glass identity", (tid,))
            )
            continue
        if not _is_admin(user):
            continue
        left, where = _admins_left(ctx, user, leaving)
        if not left:
            rows.append(
                Violation(
                    "last_admin", "deny", f"{user.name} is the last active admin in {where}", (tid,)
                )
            )
    return rows


def _critical_flows(ctx: CheckContext, rule_id: str, fw_id: str) -> list[tuple[str, str]]:
    """What an allow rule carries that must never be cut: DNS, IdP, management traffic."""
    fork = ctx.fork
    roles = set(ctx.setting("critical_roles"))
    out: list[tuple[str, str]] = []
    for t, d in fork.out_edges(rule_id):
        if t is not EdgeType.ALLOWS_TRAFFIC:
            continue
        e = fork.entity(d)
        if e.kind is NodeKind.SERVICE and e.attrs.get("role") in roles:
            out.append((d, f"{e.attrs['role']} service {e.name}"))
        elif e.kind is NodeKind.SEGMENT and e.attrs.get("purpose") == "mgmt":
            out.append((d, f"management segment {e.name}"))
    flow = Flow.of(fork.entity(rule_id).attrs)
    for t, seg in fork.in_edges(fw_id):
        s = fork.entity(seg)
        if t is EdgeType.PROTECTED_BY and s.attrs.get("purpose") == "mgmt":
            try:
                net = parse_net(str(s.attrs.get("cidr", "any")))
            except ValueError:
                net = None
            mgmt = Flow(net, None, None)
            if flow.source is not None and overlaps(Flow(flow.source, None, None), mgmt):
                out.append((seg, f"management traffic from {s.name}"))
    return out


def _internal(ctx: CheckContext, fw_id: str, flow: Flow) -> list[str]:
    """Segments behind the firewall whose addresses the flow's source overlaps."""
    fork = ctx.fork
    hit = []
    for t, seg in fork.in_edges(fw_id):
        if t is not EdgeType.PROTECTED_BY:
            continue
        try:
            net = parse_net(str(fork.entity(seg).attrs.get("cidr", "any")))
        except ValueError:
            continue
        if overlaps(Flow(flow.source, None, None), Flow(net, None, None)):
            hit.append(seg)
    return hit


def _cut(
    ctx: CheckContext, rule_id: str, fw_id: str, how: str, blocker: Flow | None
) -> list[Violation]:
    rows: list[Violation] = []
    flows = _critical_flows(ctx, rule_id, fw_id)
    if not flows:
        return rows
    rule = ctx.fork.entity(rule_id)
    if how == "partly" and blocker is not None and not _internal(ctx, fw_id, blocker):
        return rows  # an outside source blocked: internal DNS/IdP/management clients unaffected
    for nid, what in flows:
        rows.append(
            Violation(
                "firewall_flows",
                "deny",
                f"the change {how} cuts rule {rule.name}, which carries {what}",
                (rule_id, nid),
            )
        )
    return rows


def _opened(ctx: CheckContext, rule: Entity, fw_id: str) -> list[Violation]:
    fork = ctx.fork
    flow = Flow.of(rule.attrs)
    r = reach(fork.in_edges, fork.entity, fw_id, flow)
    rows: list[Violation] = []
    if flow.source is None and r.prod_hosts:
        rows.append(
            Violation(
                "firewall_flows",
                "deny",
                f"{rule.name} opens {len(r.prod_hosts)} production host(s) to any source",
                (rule.id, *ctx.listed(sorted(r.prod_hosts))),
            )
        )
    if flow.destination is None and r.hosts:
        rows.append(
            Violation(
                "firewall_flows",
                "needs_consent",
                f"{rule.name} reaches every host behind the firewall ({len(r.hosts)})",
                (rule.id, *ctx.listed(sorted(r.hosts))),
            )
        )
    wanted = ctx.params.get("service")
    names = {s: fork.entity(s).name for s in r.services}
    if wanted:
        extra = sorted(s for s, n in names.items() if wanted not in (s, n))
        if extra:
            rows.append(
                Violation(
                    "firewall_flows",
                    "needs_consent",
                    f"{rule.name} also opens {', '.join(names[s] for s in extra)} "
                    f"(intended: {wanted})",
                    (rule.id, *ctx.listed(extra)),
                )
            )
        if len(extra) == len(names):
            rows.append(
                Violation(
                    "firewall_flows",
                    "warn",
                    f"{rule.name} does not reach the intended service {wanted}",
                    (rule.id,),
                )
            )
    elif names:
        rows.append(
            Violation(
                "firewall_flows",
                "warn",
                f"{rule.name} opens {', '.join(sorted(names.values()))}; name the intended service "
                f"to have anything else flagged",
                (rule.id, *ctx.listed(sorted(names))),
            )
        )
    return rows


def firewall_flows(ctx: CheckContext) -> list[Violation]:
    """Firewall changes open only the intended flows and never cut DNS, IdP or management.

    A new allow rule may not open production to any source, nor reach beyond the intended
    service; a new block rule, or removing an allow rule, may not cut a rule that carries DNS,
    identity-provider or management traffic; removing a block rule counts as opening its flow.
    """
    fork = ctx.fork
    rows: list[Violation] = []
    added = [d for d in fork.deltas if isinstance(d, AddEntity)]
    for d in added:
        rule = fork.entity(d.entity_id)
        fw = firewall_of(fork.out_edges, rule.id)
        if fw is None:
            continue
        if rule.attrs.get("action") == "allow":
            rows += _opened(ctx, rule, fw)
            continue
        blocker = Flow.of(rule.attrs)
        for x in fork.deltas:
            if isinstance(x, Deactivate) and x.entity_id != rule.id:
                rows += _cut(ctx, x.entity_id, fw, "fully", blocker)
            elif isinstance(x, SetAttr) and x.key == "partly_blocked_by":
                rows += _cut(ctx, x.entity_id, fw, "partly", blocker)
    if ctx.action == "firewall.rule.remove":
        for x in fork.deltas:
            if not isinstance(x, Deactivate):
                continue
            rule = fork.entity(x.entity_id)
            fw = firewall_of(fork.out_edges, rule.id)
            if fw is None:
                continue
            if rule.attrs.get("action") == "block":
                rows += _opened(
                    ctx, rule.model_copy(update={"attrs": {**rule.attrs, "action": "allow"}}), fw
                )
                continue
            flow = Flow.of(rule.attrs)
            # Still carried by another live allow rule on the same firewall: nothing is cut.
            spare = [
                o
                for o in rules_on(fork.in_edges, fw)
                if o != rule.id
                and fork.active(o)
                and fork.entity(o).attrs.get("action") == "allow"
                and covers(Flow.of(fork.entity(o).attrs), flow)
            ]
            if not spare:
                rows += _cut(ctx, rule.id, fw, "fully", None)
    return rows
