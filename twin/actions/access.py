"""Actions on identities and credentials: disable, enable, revoke sessions, rotate secrets."""

from __future__ import annotations

from pydantic import Field

from twin.actions._base import (
    ActionContext,
    ActionSpec,
    Expectation,
    NoParams,
    Params,
    Rollback,
    register,
)
from twin.fork import Deactivate, Delta, SetAttr
from twin.model import EdgeType, Entity, NodeKind

__all__ = ["RotateParams", "consumers_of", "owner_of", "rotated_with"]


class RotateParams(Params):
    """``credential.rotate`` parameters."""

    overlap_minutes: int = Field(default=60, ge=0, le=10080)
    """How long the previous secret stays valid (only where the credential supports overlap)."""


def owner_of(ctx: ActionContext, cred: Entity) -> Entity | None:
    """The identity that owns ``cred`` (attribute ``owner`` or an ``owns`` edge)."""
    g = ctx.graph
    owner = cred.attrs.get("owner")
    if isinstance(owner, str) and owner in g:
        return g.get(owner)
    for t, src in g.in_edges(cred.id):
        if t is EdgeType.OWNS:
            return g.get(src)
    return None


def rotated_with(ctx: ActionContext, cred: Entity) -> list[Entity]:
    """Every credential a rotation of ``cred`` renews: the IdP rotates all its owner's secrets."""
    owner = owner_of(ctx, cred)
    if owner is None:
        return [cred]
    g = ctx.graph
    siblings = {d for t, d in g.out_edges(owner.id) if t is EdgeType.OWNS}
    return [cred] + [g.get(c) for c in sorted(siblings - {cred.id})]


def consumers_of(ctx: ActionContext, cred: Entity) -> list[Entity]:
    """Services (and SaaS) configured with ``cred``."""
    g = ctx.graph
    return [g.get(s) for t, s in g.in_edges(cred.id) if t is EdgeType.USES_CREDENTIAL]


def updatable(ctx: ActionContext, consumer: Entity) -> bool:
    """Whether opshand can point ``consumer`` at a new secret (it runs on a managed host)."""
    g = ctx.graph
    return any(
        t is EdgeType.RUNS_ON and g.get(d).attrs.get("device_id")
        for t, d in g.out_edges(consumer.id)
    )


def _rotate_effects(ctx: ActionContext, cred: Entity, p: RotateParams) -> list[Delta]:
    deltas: list[Delta] = []
    seen: set[str] = set()
    for c in rotated_with(ctx, cred):
        deltas.append(SetAttr(c.id, "version", int(c.attrs.get("version", 1)) + 1))
        deltas.append(SetAttr(c.id, "rotated_at", ctx.now.isoformat()))
        overlap = p.overlap_minutes > 0 and bool(c.attrs.get("supports_overlap", False))
        for svc in consumers_of(ctx, c):
            if svc.id in seen:
                continue
            seen.add(svc.id)
            if overlap and updatable(ctx, svc):
                deltas.append(SetAttr(svc.id, "secret_update_pending", c.id))
            else:
                # Without overlap the consumer fails from the rotation until it is updated;
                # one opshand cannot update keeps failing.
                deltas.append(Deactivate(svc.id))
    return deltas


def _rotate_expect(ctx: ActionContext, cred: Entity, p: RotateParams) -> list[Expectation]:
    out = [
        Expectation(
            cred.id, "credential_rotated", (("min_version", int(cred.attrs.get("version", 1)) + 1),)
        )
    ]
    for c in rotated_with(ctx, cred):
        out += [Expectation(s.id, "service_running") for s in consumers_of(ctx, c)]
    return list({(e.target, e.check): e for e in out}.values())


register(
    ActionSpec(
        kind="credential.rotate",
        summary="Rotate a credential's secret and point its consumers at the new one",
        params=RotateParams,
        target_kinds=frozenset({NodeKind.CREDENTIAL}),
        capability="identity.rotate_secret",
        idempotent=False,
        effects=_rotate_effects,
        expect=_rotate_expect,
        rollback=lambda c, e, p: Rollback(
            None,
            note="a rotated secret cannot be restored; the previous one stays valid only "
            "for the overlap window",
        ),
        invariants=("credential_consumers", "replicas", "critical_path", "change_window"),
    )
)
register(
    ActionSpec(
        kind="identity.disable",
        summary="Disable a user or service account in the identity provider",
        params=NoParams,
        target_kinds=frozenset({NodeKind.IDENTITY}),
        capability="identity.disable_user",
        idempotent=True,
        effects=lambda c, u, p: [SetAttr(u.id, "status", "disabled"), Deactivate(u.id)],
        expect=lambda c, u, p: [Expectation(u.id, "user_disabled")],
        rollback=lambda c, u, p: Rollback("identity.enable", note="enable the account again"),
        invariants=("last_admin", "critical_path", "replicas"),
    )
)
register(
    ActionSpec(
        kind="identity.enable",
        summary="Enable a disabled account again (the rollback of identity.disable)",
        params=NoParams,
        target_kinds=frozenset({NodeKind.IDENTITY}),
        capability="identity.enable_user",
        idempotent=True,
        effects=lambda c, u, p: [SetAttr(u.id, "status", "active")],
        expect=lambda c, u, p: [Expectation(u.id, "user_enabled")],
        rollback=lambda c, u, p: Rollback("identity.disable", note="disable the account again"),
        invariants=(),
    )
)
register(
    ActionSpec(
        kind="identity.revoke_sessions",
        summary="End every session of an account (it must sign in again)",
        params=NoParams,
        target_kinds=frozenset({NodeKind.IDENTITY}),
        capability="identity.revoke_sessions",
        idempotent=True,
        effects=lambda c, u, p: [SetAttr(u.id, "sessions", 0)],
        expect=lambda c, u, p: [Expectation(u.id, "sessions_revoked")],
        rollback=lambda c, u, p: Rollback(
            None, note="ended sessions do not come back; the user signs in again"
        ),
        invariants=(),
    )
)
