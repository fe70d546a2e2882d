"""Capacity and reachability checks: replicas, quorum, critical services, the management path."""

from __future__ import annotations

from twin.actions.data import restore_subject
from twin.invariants._core import CheckContext, Violation
from twin.model import EdgeType, NodeKind

__all__ = ["critical_path", "mgmt_path", "quorum", "replicas"]


def replicas(ctx: CheckContext) -> list[Violation]:
    """Every service keeps at least ``replicas_min`` running instances."""
    fork, out = ctx.fork, ctx.outage
    rows: list[Violation] = []
    for sid in sorted({*out.down, *out.degraded}):
        svc = fork.entity(sid)
        if svc.kind is not NodeKind.SERVICE:
            continue
        hosts = [d for t, d in fork.out_edges(sid) if t is EdgeType.RUNS_ON]
        if not hosts:
            continue
        live = [h for h in hosts if h not in out.down]
        need = int(svc.attrs.get("replicas_min", 1))
        if len(live) < need:
            lost = sorted(h for h in hosts if h in out.down)
            rows.append(
                Violation(
                    "replicas",
                    "needs_consent",
                    f"{svc.name} would run on {len(live)} of {len(hosts)} instances "
                    f"(needs at least {need})",
                    (sid, *lost),
                )
            )
    return rows


def quorum(ctx: CheckContext) -> list[Violation]:
    """Every cluster keeps its quorum of live members."""
    fork, out = ctx.fork, ctx.outage
    clusters: set[str] = set()
    for nid in out.down:
        if fork.exists(nid):
            clusters.update(d for t, d in fork.out_edges(nid) if t is EdgeType.MEMBER_OF)
    rows: list[Violation] = []
    for cid in sorted(clusters):
        c = fork.entity(cid)
        if c.kind is not NodeKind.CLUSTER:
            continue
        members = [s for t, s in fork.in_edges(cid) if t is EdgeType.MEMBER_OF]
        live = [m for m in members if m not in out.down and fork.active(m)]
        need = int(c.attrs.get("quorum", len(members) // 2 + 1))
        if len(live) < need:
            rows.append(
                Violation(
                    "quorum",
                    "deny",
                    f"cluster {c.name} would have {len(live)} of {len(members)} members "
                    f"(quorum {need})",
                    (cid, *sorted(m for m in members if m in out.down)),
                )
            )
    return rows


def critical_path(ctx: CheckContext) -> list[Violation]:
    """No business-critical service loses its last dependency path.

    A critical service (or SaaS) that goes down as collateral is a ``deny``; one the change takes
    down on purpose (it is a target) needs consent. The evidence is the path that explains it.
    """
    fork, out = ctx.fork, ctx.outage
    targets = set(ctx.targets)
    rows: list[Violation] = []
    for nid, path in sorted(out.down.items()):
        if not fork.exists(nid):
            continue
        e = fork.entity(nid)
        if e.kind not in (NodeKind.SERVICE, NodeKind.SAAS):
            continue
        if e.attrs.get("criticality") != "critical":
            continue
        names = " -> ".join(path)
        if nid in targets:
            rows.append(
                Violation(
                    "critical_path",
                    "needs_consent",
                    f"the change takes critical service {e.name} down itself",
                    (nid,),
                )
            )
        else:
            rows.append(
                Violation(
                    "critical_path",
                    "deny",
                    f"critical service {e.name} loses its last path: {names}",
                    tuple(path),
                )
            )
    return rows


def _mgmt_of(ctx: CheckContext, target: str) -> list[tuple[str, str]]:
    """What opshand reaches ``target`` through: (entity, role in the path)."""
    fork = ctx.fork
    path: list[tuple[str, str]] = []
    for t, d in fork.out_edges(target):
        if t is EdgeType.HOSTED_ON:
            path.append((d, "hypervisor"))
        elif t is EdgeType.ATTACHED_TO:
            path.append((d, "segment"))
            path += [(f, "firewall") for tt, f in fork.out_edges(d) if tt is EdgeType.PROTECTED_BY]
    return path


def mgmt_path(ctx: CheckContext) -> list[Violation]:
    """The management and rollback path of each target does not run through the change.

    Counterexamples: a target's hypervisor, segment or firewall goes down with the change (there
    would be no way to reach it to verify or roll back); a management segment or a firewall goes
    down (everything behind it becomes unmanageable); a restore onto the host that runs the
    backup service (the restore would run through its own target).
    """
    fork, out = ctx.fork, ctx.outage
    rows: list[Violation] = []
    for tid in ctx.targets:
        if not fork.exists(tid):
            continue
        path = _mgmt_of(ctx, tid)
        fork.note_read(n for n, _ in path)  # the verdict rests on their state: plan drift
        for nid, role in path:
            if nid in out.down and nid != tid:
                rows.append(
                    Violation(
                        "mgmt_path",
                        "deny",
                        f"{fork.entity(tid).name} is managed through its {role} "
                        f"{fork.entity(nid).name}, which this change takes down",
                        (tid, nid),
                    )
                )
    for nid in sorted(out.down):
        if not fork.exists(nid):
            continue
        e = fork.entity(nid)
        if e.kind is NodeKind.FIREWALL or (
            e.kind is NodeKind.SEGMENT and e.attrs.get("purpose") == "mgmt"
        ):
            rows.append(
                Violation(
                    "mgmt_path",
                    "deny",
                    f"{e.name} goes down: everything behind it loses its management path",
                    (nid,),
                )
            )
    if ctx.action == "backup.restore":
        for tid in ctx.targets:
            host, _ = restore_subject(fork.base, fork.base.get(tid))
            if host is None:
                continue
            for t, s in fork.in_edges(host.id):
                svc = fork.entity(s)
                if t is EdgeType.RUNS_ON and svc.attrs.get("role") == "backup":
                    rows.append(
                        Violation(
                            "mgmt_path",
                            "deny",
                            f"restoring {host.name} would run through {svc.name}, which runs on it",
                            (host.id, s),
                        )
                    )
    return rows
