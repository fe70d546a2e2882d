"""Actions on hosts and services: reboot, patch, restart and allowlisted scripts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from twin.actions._base import (
    DISRUPTIVE_INVARIANTS,
    ActionContext,
    ActionSpec,
    Expectation,
    Params,
    Rollback,
    register,
)
from twin.actions.scripts import default_allowlist
from twin.fork import Deactivate, Delta, SetAttr
from twin.model import EdgeType, Entity, NodeKind

__all__ = ["PatchParams", "RebootParams", "RestartParams", "ScriptParams", "UninstallParams"]

_HOSTS = frozenset({NodeKind.HOST, NodeKind.HYPERVISOR})


class RebootParams(Params):
    """``host.reboot`` parameters."""

    window: Literal["now", "tonight", "maintenance"] = "now"


class PatchParams(Params):
    """``patch.apply`` parameters."""

    patch_ids: list[str] = Field(default_factory=list)
    """Patches to install; empty means every pending patch on the host."""
    reboot: bool = True
    window: Literal["now", "tonight", "maintenance"] = "now"


class UninstallParams(Params):
    """``patch.uninstall`` parameters."""

    patch_ids: list[str] = Field(min_length=1)


class RestartParams(Params):
    """``service.restart`` parameters."""

    host: str | None = None
    """Restart only the instance on this host (id or name)."""


class ScriptParams(Params):
    """``script.run`` parameters: an allowlisted script id and its typed parameters."""

    script_id: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


def _patches_of(ctx: ActionContext, host: Entity, p: PatchParams) -> list[Entity]:
    g = ctx.graph
    pending = [
        g.get(s)
        for t, s in g.in_edges(host.id)
        if t is EdgeType.PENDING_ON and g.get(s).attrs.get("status", "pending") == "pending"
    ]
    if p.patch_ids:
        wanted = set(p.patch_ids)
        return [x for x in pending if x.attrs.get("patch_id") in wanted]
    return pending


def _patch_effects(ctx: ActionContext, host: Entity, p: PatchParams) -> list[Delta]:
    deltas: list[Delta] = [SetAttr(x.id, "status", "installed") for x in _patches_of(ctx, host, p)]
    if p.reboot:
        deltas.append(Deactivate(host.id))
    return deltas


def _patch_ids(ctx: ActionContext, host: Entity, p: PatchParams) -> list[str]:
    return sorted(str(x.attrs.get("patch_id")) for x in _patches_of(ctx, host, p))


def _patch_expect(ctx: ActionContext, host: Entity, p: PatchParams) -> list[Expectation]:
    ids = tuple(_patch_ids(ctx, host, p))
    out = [Expectation(host.id, "patches_installed", (("patch_ids", ids),))]
    if p.reboot:
        out.append(Expectation(host.id, "rebooted"))
    return out


def _patch_rollback(ctx: ActionContext, host: Entity, p: PatchParams) -> Rollback:
    ids = _patch_ids(ctx, host, p)
    if not ids:
        return Rollback(None, note="no pending patch matched; nothing to uninstall")
    return Rollback(
        "patch.uninstall", (("patch_ids", ids),), note="uninstall the patches this change installed"
    )


def _services_on(ctx: ActionContext, host: Entity) -> list[Entity]:
    g = ctx.graph
    return [g.get(s) for t, s in g.in_edges(host.id) if t is EdgeType.RUNS_ON]


def _reboot_expect(ctx: ActionContext, h: Entity, p: Any) -> list[Expectation]:
    return [Expectation(h.id, "rebooted")] + [
        Expectation(s.id, "service_running", (("host", h.id),)) for s in _services_on(ctx, h)
    ]


def _instances(ctx: ActionContext, svc: Entity) -> list[str]:
    return [d for t, d in ctx.graph.out_edges(svc.id) if t is EdgeType.RUNS_ON]


def _restart_effects(ctx: ActionContext, svc: Entity, p: RestartParams) -> list[Delta]:
    # A service with several instances restarts one instance at a time (rolling): it stays up.
    # A single instance, or one named host, is down while it restarts.
    if p.host:
        return [SetAttr(svc.id, "restarting_on", p.host)]
    if len(_instances(ctx, svc)) > 1:
        return [SetAttr(svc.id, "restarting", "rolling")]
    return [Deactivate(svc.id)]


def _check_script(p: ScriptParams) -> None:
    default_allowlist().get(p.script_id).validate(p.params)


def _script_effects(ctx: ActionContext, host: Entity, p: ScriptParams) -> list[Delta]:
    spec = default_allowlist().get(p.script_id)
    if spec.disruption == "host":
        return [Deactivate(host.id)]
    if spec.disruption == "service":
        name = str(p.params.get("service", ""))
        out: list[Delta] = []
        for s in _services_on(ctx, host):
            if name in (s.name, s.id):
                # Down while the script runs if this is its only instance; else degraded.
                single = len(_instances(ctx, s)) <= 1
                out.append(Deactivate(s.id) if single else SetAttr(s.id, "restarting_on", host.id))
        return out
    return []


def _script_expect(ctx: ActionContext, host: Entity, p: ScriptParams) -> list[Expectation]:
    spec = default_allowlist().get(p.script_id)
    if spec.disruption == "host":
        return [Expectation(host.id, "host_online")]
    if spec.disruption == "service":
        name = str(p.params.get("service", ""))
        return [
            Expectation(s.id, "service_running", (("host", host.id),))
            for s in _services_on(ctx, host)
            if name in (s.name, s.id)
        ]
    # A script that changes nothing observable is proven by its job result alone.
    return []


register(
    ActionSpec(
        kind="host.reboot",
        summary="Reboot a host (its services are down until it is back)",
        params=RebootParams,
        target_kinds=_HOSTS,
        capability="rmm.reboot",
        idempotent=False,
        effects=lambda c, h, p: [Deactivate(h.id)],
        expect=_reboot_expect,
        expands_groups=True,
        rollback=lambda c, h, p: Rollback(None, note="a reboot cannot be undone"),
    )
)
register(
    ActionSpec(
        kind="patch.apply",
        summary="Install pending patches on a host (with or without reboot)",
        params=PatchParams,
        target_kinds=_HOSTS,
        capability="rmm.apply_patches",
        idempotent=False,
        effects=_patch_effects,
        expect=_patch_expect,
        expands_groups=True,
        rollback=_patch_rollback,
        invariants=(*DISRUPTIVE_INVARIANTS, "backup_ready"),
    )
)
register(
    ActionSpec(
        kind="patch.uninstall",
        summary="Uninstall patches from a host (the rollback of patch.apply)",
        params=UninstallParams,
        target_kinds=_HOSTS,
        capability="rmm.uninstall_patches",
        idempotent=False,
        effects=lambda c, h, p: [Deactivate(h.id)],
        expect=lambda c, h, p: [
            Expectation(h.id, "patches_removed", (("patch_ids", tuple(sorted(p.patch_ids))),))
        ],
        rollback=lambda c, h, p: Rollback(
            "patch.apply", (("patch_ids", sorted(p.patch_ids)),), note="install them again"
        ),
    )
)
register(
    ActionSpec(
        kind="service.restart",
        summary="Restart a service (on one host or all its instances)",
        params=RestartParams,
        target_kinds=frozenset({NodeKind.SERVICE}),
        capability="rmm.restart_service",
        idempotent=True,
        effects=_restart_effects,
        expect=lambda c, s, p: [
            Expectation(s.id, "service_running", (("host", p.host),) if p.host else ())
        ],
        expands_groups=True,
        rollback=lambda c, s, p: Rollback(None, note="a restart needs no rollback"),
        invariants=("replicas", "critical_path", "change_window"),
    )
)
register(
    ActionSpec(
        kind="script.run",
        summary="Run an allowlisted script with typed parameters on a host",
        params=ScriptParams,
        target_kinds=_HOSTS,
        capability="rmm.run_script",
        idempotent=False,
        effects=_script_effects,
        expect=_script_expect,
        expands_groups=True,
        rollback=lambda c, h, p: Rollback(None, note="scripts have no automatic undo"),
        invariants=(*DISRUPTIVE_INVARIANTS, "backup_ready"),
        validate=_check_script,
    )
)
