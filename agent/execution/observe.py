"""Reading back the state an expectation names, for reconciliation.

Each check of the action catalog (``rebooted``, ``user_disabled``, ``rule_present`` ...) has an
observer that asks the integrations what is true now and says whether it matches the plan's
expected post-state, with the facts it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.execution.capabilities import Adapters
from agent.execution.source_ids import (
    credential_consumers,
    device_id,
    firewall_of,
    hosts_of,
    siem_rule_id,
    ticket_id,
    user_id,
)
from twin.graph import TwinGraph
from twin.model import Entity, NodeKind

__all__ = ["Observation", "observe"]


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
    return next((d for d in a.need("rmm").list_devices() if d.device_id == device_id(t)), None)


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
    return {s.patch_id: s.status for s in a.need("rmm").patch_status(device_id(t))}


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
    hosts = hosts_of(g, t, None) if t.kind is NodeKind.SERVICE else []
    if p.get("host"):
        hosts = [h for h in (hosts or [g.get(p["host"])]) if p["host"] in (h.id, h.name)]
    devices = {d.device_id: d for d in a.need("rmm").list_devices()}
    bad = []
    for h in hosts:
        d = devices.get(device_id(h))
        state = d.services.get(t.name, "unknown") if d else "unknown"
        if state != "running":
            bad.append(f"{h.name}: {state}")
    return _obs(t, "service_running", not bad, "running" if not bad else "; ".join(bad))


def _user_status(want: str, check: str) -> Observer:
    def run(
        a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
    ) -> Observation:
        u = a.need("identity").get_user(user_id(t))
        return _obs(t, check, u.status == want, f"status {u.status}", status=u.status)

    return run


def _sessions(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    u = a.need("identity").get_user(user_id(t))
    return _obs(t, "sessions_revoked", u.sessions == 0, f"{u.sessions} session(s)")


def _rotated(
    a: Adapters, g: TwinGraph, t: Entity, p: dict[str, Any], started: datetime
) -> Observation:
    owner, _ = credential_consumers(g, t)
    u = a.need("identity").get_user(user_id(owner))
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
    qualified = f"{firewall_of(g, t).name}/{p.get('rule_id')}"
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
    r = a.need("siem").get_rule(siem_rule_id(t))
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
        tk = a.need("psa").get_ticket(ticket_id(t))
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
