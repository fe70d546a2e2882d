"""How each catalog capability is carried out through the adapter contracts.

The twin's action catalog names a capability (``rmm.reboot``); :func:`invoke` turns it into
contract calls with the change's idempotency key, and :func:`observe` reads back the state an
expectation names, for reconciliation. Source-system ids come from entity attributes
(``device_id``, ``user_id``, ``rule_id``, ``object_name``, ``number``) or ``source_ref``.
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
from twin.actions import parse_duration
from twin.actions.network import new_rule_id
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind, utcnow

__all__ = ["Adapters", "CapabilityError", "Observation", "invoke", "observe"]


class CapabilityError(RuntimeError):
    """The capability cannot be carried out (missing adapter, missing source id ...)."""


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


# ---------------------------------------------------------------------------- source ids
def _device(ent: Entity) -> str:
    dev = ent.attrs.get("device_id") or ent.source_ref
    if not dev:
        raise CapabilityError(f"{ent.name} has no RMM device id in the twin")
    return str(dev)


def _user(ent: Entity) -> str:
    return str(ent.attrs.get("user_id") or ent.source_ref or ent.name)


def _ticket(ent: Entity) -> str:
    return str(ent.source_ref or ent.attrs.get("number") or ent.name)


def _siem_rule(ent: Entity) -> str:
    return str(ent.attrs.get("rule_id") or ent.source_ref or ent.name)


def _hosts_of(graph: TwinGraph, service: Entity, only: str | None) -> list[Entity]:
    hosts = [graph.get(d) for t, d in graph.out_edges(service.id) if t is EdgeType.RUNS_ON]
    if only:
        hosts = [h for h in hosts if only in (h.id, h.name)]
    return hosts


def _firewall(graph: TwinGraph, target: Entity) -> Entity:
    if target.kind is NodeKind.FIREWALL:
        return target
    fw = next((d for t, d in graph.out_edges(target.id) if t is EdgeType.RULE_OF), None)
    if fw is None:
        raise CapabilityError(f"{target.name} belongs to no firewall in the twin")
    return graph.get(fw)


def _qualified_rule(graph: TwinGraph, target: Entity, params: dict[str, Any]) -> str:
    """``<firewall>/<local id>``, the form a manager-wide firewall adapter takes."""
    fw = _firewall(graph, target)
    local = (
        params.get("rule_id")
        if target.kind is NodeKind.FIREWALL
        else (target.attrs.get("rule_id") or target.source_ref)
    )
    if not local:
        raise CapabilityError(f"no rule id to act on for {target.name}")
    return f"{fw.name}/{local}"


def _backup_of(graph: TwinGraph, target: Entity) -> Entity:
    if target.kind is NodeKind.BACKUP:
        return target
    from twin.actions.data import restore_subject

    _, backups = restore_subject(graph, target)
    if not backups:
        raise CapabilityError(f"no backup protects {target.name} in the twin")
    return max(backups, key=lambda b: str(b.attrs.get("last_success", "")))


def _credential_consumers(graph: TwinGraph, cred: Entity) -> tuple[Entity, list[Entity]]:
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
            _device(t), sorted(ids), reboot=bool(p.get("reboot", True)), idempotency_key=key
        )
    ]


def _uninstall(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    rmm = a.need("rmm")
    return [
        rmm.run_script(
            _device(t), "uninstall-patch", {"patch_id": str(pid)}, idempotency_key=f"{key}:{pid}"
        )
        for pid in p.get("patch_ids") or []
    ]


def _restart(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    rmm = a.need("rmm")
    return [
        rmm.run_script(
            _device(h), "restart-service", {"service": t.name}, idempotency_key=f"{key}:{h.id}"
        )
        for h in _hosts_of(g, t, p.get("host"))
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
    return [a.need("rmm").run_script(_device(t), str(p["script_id"]), args, idempotency_key=key)]


def _rotate(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    owner, consumers = _credential_consumers(g, t)
    a.need("identity").rotate_secret(
        _user(owner), overlap_minutes=int(p.get("overlap_minutes", 0)), idempotency_key=key
    )
    rmm = a.need("rmm")
    jobs = []
    for svc in consumers:
        for h in _hosts_of(g, svc, None):
            if h.attrs.get("device_id"):
                jobs.append(
                    rmm.run_script(
                        _device(h),
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

    backup = _backup_of(g, t)
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

    fw = _firewall(g, t)
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
    a.need("firewall").remove_rule(_qualified_rule(g, t, p), idempotency_key=key)
    return []


def _throttle(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
) -> list[Job]:
    minutes = int(p.get("minutes") or parse_duration(str(p.get("expires_in"))))
    until = now.replace(second=0, microsecond=0) + timedelta(minutes=minutes)
    a.need("siem").throttle_rule(_siem_rule(t), until, idempotency_key=key)
    return []


def _simple(category: str, method: str, *args: str) -> Invoker:
    def run(
        a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], key: str, now: datetime
    ) -> list[Job]:
        ident = _ticket(t) if category == "psa" else _user(t)
        extra = [str(p.get(x, "")) for x in args]
        getattr(a.need(category), method)(ident, *extra, idempotency_key=key)
        return []

    return run


_INVOKE: dict[str, Invoker] = {
    "rmm.reboot": lambda a, g, t, p, k, n: [a.need("rmm").reboot(_device(t), idempotency_key=k)],
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


# ---------------------------------------------------------------------------- observe
@dataclass(frozen=True)
class Observation:
    """What reconciliation saw for one expectation."""

    target: str
    check: str
    ok: bool
    detail: str
    facts: dict[str, Any]


Observer = Callable[[Adapters, TwinGraph, Entity, dict[str, Any], datetime], Observation]


def _obs(t: Entity, check: str, ok: bool, detail: str, **facts: Any) -> Observation:
    return Observation(t.id, check, ok, detail, facts)


def _device_view(a: Adapters, t: Entity) -> Any:
    return next((d for d in a.need("rmm").list_devices() if d.device_id == _device(t)), None)


def _rebooted(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    dev = _device_view(a, t)
    if dev is None:
        return _obs(t, "rebooted", False, "device not reported by the RMM")
    booted = dev.last_boot is not None and dev.last_boot >= started
    ok = dev.online and booted
    detail = (
        "back online after reboot"
        if ok
        else ("offline" if not dev.online else "boot time did not move")
    )
    return _obs(
        t,
        "rebooted",
        ok,
        detail,
        online=dev.online,
        last_boot=dev.last_boot.isoformat() if dev.last_boot else None,
        pending_reboot=False if booted else t.attrs.get("pending_reboot", False),
    )


def _host_online(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    dev = _device_view(a, t)
    if dev is None:
        return _obs(t, "host_online", False, "device not reported by the RMM")
    return _obs(
        t, "host_online", dev.online, "online" if dev.online else "offline", online=dev.online
    )


def _patch_states(a: Adapters, t: Entity) -> dict[str, str]:
    return {s.patch_id: s.status for s in a.need("rmm").patch_status(_device(t))}


def _patches_installed(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    wanted = set(p.get("patch_ids") or [])
    states = _patch_states(a, t)
    missing = sorted(x for x in wanted if states.get(x) != "installed")
    return _obs(
        t,
        "patches_installed",
        not missing,
        "all installed" if not missing else f"not installed: {', '.join(missing)}",
        installed=sorted(wanted - set(missing)),
    )


def _patches_removed(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    states = _patch_states(a, t)
    still = sorted(x for x in p.get("patch_ids") or [] if states.get(x) == "installed")
    return _obs(
        t,
        "patches_removed",
        not still,
        "removed" if not still else f"still installed: {', '.join(still)}",
    )


def _service_running(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    hosts = _hosts_of(g, t, None) if t.kind is NodeKind.SERVICE else []
    if p.get("host"):
        hosts = [h for h in (hosts or [g.get(p["host"])]) if p["host"] in (h.id, h.name)]
    devices = {d.device_id: d for d in a.need("rmm").list_devices()}
    bad = []
    for h in hosts:
        d = devices.get(_device(h))
        state = d.services.get(t.name, "unknown") if d else "unknown"
        if state != "running":
            bad.append(f"{h.name}: {state}")
    return _obs(t, "service_running", not bad, "running" if not bad else "; ".join(bad))


def _user_status(want: str, check: str) -> Observer:
    def run(
        a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
    ) -> Observation:
        u = a.need("identity").get_user(_user(t))
        return _obs(t, check, u.status == want, f"status {u.status}", status=u.status)

    return run


def _sessions(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    u = a.need("identity").get_user(_user(t))
    return _obs(t, "sessions_revoked", u.sessions == 0, f"{u.sessions} session(s)")


def _rotated(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    owner, _ = _credential_consumers(g, t)
    u = a.need("identity").get_user(_user(owner))
    want = int(p.get("min_version", 0))
    ok = u.secret_version >= want
    return _obs(
        t,
        "credential_rotated",
        ok,
        f"secret version {u.secret_version} (want {want}+)",
        version=u.secret_version,
        rotated_at=started.isoformat() if ok else t.attrs.get("rotated_at"),
    )


def _restore_point(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    # The backup contract reports restore points, not restore runs: this proves the point the
    # plan meant exists; the restore job's own result (polled by the executor) proves the run.
    obj = str(p.get("object_name") or t.name)
    as_of = p.get("as_of")
    points = a.need("backup").restore_points(obj)
    usable = [x for x in points if not as_of or x.created_at <= datetime.fromisoformat(as_of)]
    return _obs(
        t,
        "restore_point_used",
        bool(usable),
        f"{len(usable)} usable restore point(s) of {obj}"
        if usable
        else f"no restore point of {obj} at or before {as_of}",
    )


def _rule(a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any]) -> Any:
    qualified = f"{_firewall(g, t).name}/{p.get('rule_id')}"
    return next((r for r in a.need("firewall").list_rules() if r.rule_id == qualified), None)


def _rule_present(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    r = _rule(a, g, t, p)
    ok = r is not None and r.action == p.get("action", r.action)
    return _obs(
        t,
        "firewall_rule_present",
        ok,
        "rule in force" if ok else "rule not found",
        **({"expires_at": r.expires_at.isoformat()} if r is not None and r.expires_at else {}),
    )


def _rule_absent(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    rid = p.get("rule_id") or t.attrs.get("rule_id")
    r = _rule(a, g, t, {"rule_id": rid})
    return _obs(t, "firewall_rule_absent", r is None, "rule gone" if r is None else "still there")


def _throttled(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    r = a.need("siem").get_rule(_siem_rule(t))
    ok = r.throttled_until is not None and r.throttled_until > started
    return _obs(
        t,
        "rule_throttled",
        ok,
        f"throttled until {r.throttled_until.isoformat()}"
        if r.throttled_until
        else "not throttled",
        throttled_until=r.throttled_until.isoformat() if r.throttled_until else None,
    )


def _ticket_obs(check: str) -> Observer:
    def run(
        a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
    ) -> Observation:
        tk = a.need("psa").get_ticket(_ticket(t))
        ok = {
            "ticket_commented": bool(tk.comments),
            "ticket_escalated": tk.escalated,
            "ticket_status": tk.status == p.get("status"),
        }[check]
        return _obs(
            t,
            check,
            ok,
            f"status {tk.status}, {len(tk.comments)} comment(s)"
            + (", escalated" if tk.escalated else ""),
            status=tk.status,
        )

    return run


_OBSERVE: dict[str, Observer] = {
    "rebooted": _rebooted,
    "host_online": _host_online,
    "patches_installed": _patches_installed,
    "patches_removed": _patches_removed,
    "service_running": _service_running,
    "user_disabled": _user_status("disabled", "user_disabled"),
    "user_enabled": _user_status("active", "user_enabled"),
    "sessions_revoked": _sessions,
    "credential_rotated": _rotated,
    "restore_point_used": _restore_point,
    "firewall_rule_present": _rule_present,
    "firewall_rule_absent": _rule_absent,
    "rule_throttled": _throttled,
    "ticket_commented": _ticket_obs("ticket_commented"),
    "ticket_escalated": _ticket_obs("ticket_escalated"),
    "ticket_status": _ticket_obs("ticket_status"),
}


def observe(
    expectation: dict[str, Any],
    adapters: Adapters,
    graph: TwinGraph,
    *,
    started_at: datetime,
) -> Observation:
    """Read the real state for one expectation and say whether it matches."""
    target = graph.get(expectation["target"])
    check = expectation["check"]
    fn = _OBSERVE.get(check)
    if fn is None:
        return Observation(target.id, check, False, f"no way to observe '{check}'", {})
    return fn(adapters, graph, target, dict(expectation.get("params") or {}), started_at)
