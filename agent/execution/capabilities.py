"""How each catalog capability is carried out through the adapter contracts.

The twin's action catalog names a capability (``rmm.reboot``); :func:`invoke` turns it into
contract calls with the change's idempotency key. Source-system ids come from entity attributes
(``device_id``, ``user_id``, ``rule_id``, ``object_name``, ``number``) or ``source_ref``.
The read-back side lives in :mod:`agent.execution.observe`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.contracts import (
    BackupContract,
    FirewallContract,
    FirewallRule,
    IdentityContract,
    Job,
    PsaContract,
    RmmContract,
    SiemContract,
)
from agent.execution.source_ids import (
    CapabilityError,
    backup_of,
    credential_consumers,
    device_id,
    firewall_of,
    hosts_of,
    qualified_rule,
    siem_rule_id,
    ticket_id,
    user_id,
)
from twin.actions import parse_duration
from twin.actions.network import new_rule_id
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, utcnow

__all__ = ["Adapters", "invoke"]


@dataclass(frozen=True)
class Adapters:
    """The integrations opshand acts through, one per category (any may be absent)."""

    rmm: RmmContract | None = None
    psa: PsaContract | None = None
    siem: SiemContract | None = None
    identity: IdentityContract | None = None
    backup: BackupContract | None = None
    firewall: FirewallContract | None = None

    def need(self, category: str) -> Any:
        """The adapter of ``category``, or a clear error when none is configured."""
        a = getattr(self, category, None)
        if a is None:
            raise CapabilityError(f"no {category} integration is configured")
        return a


# ---------------------------------------------------------------------------- invoke
Invoker = Callable[[Adapters, TwinGraph, Entity, dict[str, Any], str, datetime], list[Job]]


def _apply_patches(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    ids = list(p.get("patch_ids") or [])
    if not ids:
        ids = [
            str(g.get(s).attrs.get("patch_id"))
            for ty, s in g.in_edges(t.id)
            if ty is EdgeType.PENDING_ON and g.get(s).attrs.get("status", "pending") == "pending"
        ]
    return [
        a.need("rmm").apply_patches(
            device_id(t), sorted(ids), reboot=bool(p.get("reboot", True)), idempotency_key=key
        )
    ]


def _uninstall(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    rmm = a.need("rmm")
    return [
        rmm.run_script(
            device_id(t), "uninstall-patch", {"patch_id": str(pid)}, idempotency_key=f"{key}:{pid}"
        )
        for pid in p.get("patch_ids") or []
    ]


def _restart(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    rmm = a.need("rmm")
    return [
        rmm.run_script(
            device_id(h), "restart-service", {"service": t.name}, idempotency_key=f"{key}:{h.id}"
        )
        for h in hosts_of(g, t, p.get("host"))
    ]


def _script(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    from twin.actions.scripts import default_allowlist

    # Checked again here: the plan was validated at rehearsal, but the allowlist may have shrunk.
    try:
        typed = default_allowlist().get(str(p.get("script_id"))).validate(dict(p.get("params", {})))
    except ValueError as exc:
        raise CapabilityError(str(exc)) from exc
    args = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in typed.items()}
    return [a.need("rmm").run_script(device_id(t), str(p["script_id"]), args, idempotency_key=key)]


def _rotate(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    owner, consumers = credential_consumers(g, t)
    a.need("identity").rotate_secret(
        user_id(owner), overlap_minutes=int(p.get("overlap_minutes", 0)), idempotency_key=key
    )
    rmm = a.need("rmm")
    jobs = []
    for svc in consumers:
        for h in hosts_of(g, svc, None):
            if h.attrs.get("device_id"):
                jobs.append(
                    rmm.run_script(
                        device_id(h),
                        "update-secret",
                        {"service": svc.name},
                        idempotency_key=f"{key}:{svc.id}:{h.id}",
                    )
                )
    return jobs


def _restore(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    from twin.actions import ActionContext
    from twin.actions.data import RestoreParams, restore_as_of

    backup = backup_of(g, t)
    obj = str(backup.attrs.get("object_name") or backup.name)
    rp = RestoreParams.model_validate(
        {k: v for k, v in p.items() if k in ("restore_point", "role")}
    )
    as_of = restore_as_of(ActionContext(g, now), [backup], rp)
    points = a.need("backup").restore_points(obj)
    usable = [x for x in points if as_of is None or x.created_at <= as_of]
    if not usable:
        raise CapabilityError(f"no restore point of {obj} at or before {as_of}")
    point = max(usable, key=lambda x: x.created_at)
    return [a.need("backup").start_restore(point.point_id, idempotency_key=key)]


def _expiry(p: dict[str, Any], now: datetime) -> datetime | None:
    if p.get("permanent") or not p.get("expires_in"):
        return None
    # Whole minutes: a retry of the same call in the same minute carries identical arguments.
    base = now.replace(second=0, microsecond=0)
    return base + timedelta(minutes=parse_duration(str(p["expires_in"])))


def _add_rule(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    from twin.actions.network import FirewallAddParams

    fw = firewall_of(g, t)
    fp = FirewallAddParams.model_validate(p)
    rule = FirewallRule(
        rule_id=f"{fw.name}/{new_rule_id(fw, fp)}",
        action=fp.action,
        source=fp.source,
        destination=fp.destination,
        port=fp.port,
        protocol=fp.protocol,
        description=f"opshand {key}",
        expires_at=_expiry(p, now),
    )
    a.need("firewall").add_rule(rule, idempotency_key=key)
    return []


def _remove_rule(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    a.need("firewall").remove_rule(qualified_rule(g, t, p), idempotency_key=key)
    return []


def _throttle(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    minutes = int(p.get("minutes") or parse_duration(str(p.get("expires_in"))))
    until = now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    fields = tuple(str(f) for f in p.get("fields") or ())
    a.need("siem").throttle_rule(siem_rule_id(t), until, idempotency_key=key, fields=fields)
    return []


def _simple(category: str, method: str, *args: str) -> Invoker:
    def run(
        a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
    ) -> list[Job]:
        ident = ticket_id(t) if category == "psa" else user_id(t)
        extra = [str(p.get(x, "")) for x in args]
        getattr(a.need(category), method)(ident, *extra, idempotency_key=key)
        return []

    return run


_INVOKE: dict[str, Invoker] = {
    "rmm.reboot": lambda a, g, t, p, k, n: [a.need("rmm").reboot(device_id(t), idempotency_key=k)],
    "rmm.apply_patches": _apply_patches,
    "rmm.uninstall_patches": _uninstall,
    "rmm.restart_service": _restart,
    "rmm.run_script": _script,
    "identity.disable_user": _simple("identity", "disable_user"),
    "identity.enable_user": _simple("identity", "enable_user"),
    "identity.revoke_sessions": _simple("identity", "revoke_sessions"),
    "identity.rotate_secret": _rotate,
    "backup.start_restore": _restore,
    "firewall.add_rule": _add_rule,
    "firewall.remove_rule": _remove_rule,
    "siem.throttle_rule": _throttle,
    "psa.comment": _simple("psa", "comment", "text"),
    "psa.escalate": _simple("psa", "escalate", "reason"),
    "psa.close": _simple("psa", "close", "resolution"),
    "psa.update_status": _simple("psa", "update_status", "status"),
}


def invoke(
    capability: str,
    adapters: Adapters,
    graph: TwinGraph,
    target: Entity,
    params: dict[str, Any],
    *,
    idempotency_key: str,
    now: datetime | None = None,
) -> list[Job]:
    """Start the change on one target; returns the jobs started (possibly already finished).

    ``now`` anchors expiries (firewall rules, SIEM throttles); it defaults to the clock.
    """
    fn = _INVOKE.get(capability)
    if fn is None:
        raise CapabilityError(f"capability '{capability}' is not implemented")
    return fn(adapters, graph, target, params, idempotency_key, now or utcnow())
