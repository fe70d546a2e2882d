"""Restoring from backup: to the latest point, last night's, or one at or before a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import field_validator

from twin.actions._base import (
    DISRUPTIVE_INVARIANTS,
    ActionContext,
    ActionSpec,
    Expectation,
    Params,
    Rollback,
    attr_time,
    register,
)
from twin.fork import Deactivate, Delta, SetAttr
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind

__all__ = ["RestoreParams", "restore_as_of", "restore_subject"]

# "last night" ends at this hour (UTC) of the rehearsal's day.
_NIGHT_ENDS = time(8, 0)


class RestoreParams(Params):
    """``backup.restore`` parameters."""

    restore_point: str = "latest"
    """``latest``, ``last_night``, or an ISO-8601 date / time (newest point at or before it)."""
    role: Literal["primary", "replica"] | None = None
    """The database role the person means to restore; must match the target's ``db_role``."""

    @field_validator("restore_point")
    @classmethod
    def _point(cls, v: str) -> str:
        v = v.strip()
        if v in ("latest", "last_night"):
            return v
        try:
            datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"'{v}' is not latest, last_night or an ISO-8601 date/time") from None
        return v


def restore_subject(g: TwinGraph, target: Entity) -> tuple[Entity | None, list[Entity]]:
    """The host a restore overwrites and the backups that protect it."""
    host: Entity | None
    if target.kind is NodeKind.BACKUP:
        host = next((g.get(d) for t, d in g.out_edges(target.id) if t is EdgeType.PROTECTS), None)
        return host, [target]
    host = target
    if target.kind is NodeKind.SERVICE:
        direct = [g.get(s) for t, s in g.in_edges(target.id) if t is EdgeType.PROTECTS]
        if direct:
            return target, direct
        hosts = [g.get(d) for t, d in g.out_edges(target.id) if t is EdgeType.RUNS_ON]
        # A replicated database restores onto its primary; the role check guards the intent.
        hosts.sort(key=lambda h: (h.attrs.get("db_role") != "primary", h.id))
        host = hosts[0] if hosts else None
    if host is None:
        return None, []
    backups = [g.get(s) for t, s in g.in_edges(host.id) if t is EdgeType.PROTECTS]
    return host, backups


def restore_as_of(ctx: ActionContext, backups: list[Entity], p: RestoreParams) -> datetime | None:
    """The newest moment a restore point may have (``None`` when no backup is known)."""
    if p.restore_point == "latest":
        times = [t for b in backups if (t := attr_time(b.attrs.get("last_success")))]
        return max(times) if times else None
    if p.restore_point == "last_night":
        return datetime.combine(ctx.now.astimezone(UTC).date(), _NIGHT_ENDS, tzinfo=UTC)
    point = datetime.fromisoformat(p.restore_point)
    if len(p.restore_point) <= 10:  # a bare date: any point during that day
        d = date.fromisoformat(p.restore_point)
        return datetime.combine(d, time.max, tzinfo=UTC)
    return point if point.tzinfo else point.replace(tzinfo=UTC)


def _effects(ctx: ActionContext, target: Entity, p: RestoreParams) -> list[Delta]:
    host, backups = restore_subject(ctx.graph, target)
    if host is None:
        return []
    as_of = restore_as_of(ctx, backups, p)
    return [
        Deactivate(host.id),
        SetAttr(host.id, "restored_to", as_of.isoformat() if as_of else None),
    ]


def _expect(ctx: ActionContext, target: Entity, p: RestoreParams) -> list[Expectation]:
    host, backups = restore_subject(ctx.graph, target)
    if host is None:
        return []
    as_of = restore_as_of(ctx, backups, p)
    obj = str(backups[0].attrs.get("object_name") or backups[0].name) if backups else host.name
    out = [
        Expectation(
            host.id,
            "restore_point_used",
            (("object_name", obj), ("as_of", as_of.isoformat() if as_of else None)),
        )
    ]
    if host.kind in (NodeKind.HOST, NodeKind.HYPERVISOR):
        out.append(Expectation(host.id, "host_online"))
    return out


register(
    ActionSpec(
        kind="backup.restore",
        summary="Restore a host or service from a backup restore point",
        params=RestoreParams,
        target_kinds=frozenset({NodeKind.BACKUP, NodeKind.HOST, NodeKind.SERVICE}),
        capability="backup.start_restore",
        idempotent=False,
        effects=_effects,
        expect=_expect,
        rollback=lambda c, t, p: Rollback(
            None, note="a restore overwrites data; only a backup taken before it can undo it"
        ),
        invariants=(*DISRUPTIVE_INVARIANTS, "backup_ready"),
    )
)
