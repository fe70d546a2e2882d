"""How each catalog capability is carried out through the adapter contracts.

The twin's action catalog names a capability (``rmm.reboot``); this module turns it into contract
calls with the change's idempotency key, and reads back the observed state for reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.contracts import (
    BackupContract,
    FirewallContract,
    IdentityContract,
    Job,
    PsaContract,
    RmmContract,
    SiemContract,
)
from twin.graph import TwinGraph
from twin.model import EdgeType, Entity

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


def _device(ent: Entity) -> str:
    dev = ent.attrs.get("device_id") or ent.source_ref
    if not dev:
        raise CapabilityError(f"{ent.name} has no RMM device id in the twin")
    return str(dev)


def _hosts_of(graph: TwinGraph, service: Entity, only: str | None) -> list[Entity]:
    hosts = [graph.get(d) for t, d in graph.out_edges(service.id) if t is EdgeType.RUNS_ON]
    if only:
        hosts = [h for h in hosts if only in (h.id, h.name)]
    return hosts


def invoke(
    capability: str,
    adapters: Adapters,
    graph: TwinGraph,
    target: Entity,
    params: dict[str, Any],
    *,
    idempotency_key: str,
) -> list[Job]:
    """Start the change on one target; returns the jobs started (possibly already finished)."""
    if capability == "rmm.reboot":
        return [adapters.need("rmm").reboot(_device(target), idempotency_key=idempotency_key)]
    if capability == "rmm.apply_patches":
        ids = list(params.get("patch_ids") or [])
        if not ids:
            ids = [
                str(graph.get(s).attrs.get("patch_id"))
                for t, s in graph.in_edges(target.id)
                if t is EdgeType.PENDING_ON
                and graph.get(s).attrs.get("status", "pending") == "pending"
            ]
        return [
            adapters.need("rmm").apply_patches(
                _device(target),
                sorted(ids),
                reboot=bool(params.get("reboot", True)),
                idempotency_key=idempotency_key,
            )
        ]
    if capability == "rmm.restart_service":
        rmm = adapters.need("rmm")
        return [
            rmm.run_script(
                _device(h),
                "restart-service",
                {"service": target.name},
                idempotency_key=f"{idempotency_key}:{h.id}",
            )
            for h in _hosts_of(graph, target, params.get("host"))
        ]
    if capability == "identity.disable_user":
        uid = str(target.attrs.get("user_id") or target.source_ref or target.name)
        adapters.need("identity").disable_user(uid, idempotency_key=idempotency_key)
        return []
    if capability == "psa.comment":
        tid = str(target.source_ref or target.attrs.get("number") or target.name)
        adapters.need("psa").comment(tid, str(params["text"]), idempotency_key=idempotency_key)
        return []
    raise CapabilityError(f"capability '{capability}' is not implemented")


@dataclass(frozen=True)
class Observation:
    """What reconciliation saw for one expectation."""

    target: str
    check: str
    ok: bool
    detail: str
    facts: dict[str, Any]


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
    p = expectation.get("params", {})
    if check == "rebooted":
        dev = next(
            (d for d in adapters.need("rmm").list_devices() if d.device_id == _device(target)),
            None,
        )
        if dev is None:
            return Observation(target.id, check, False, "device not reported by the RMM", {})
        booted = dev.last_boot is not None and dev.last_boot >= started_at
        facts = {
            "online": dev.online,
            "last_boot": dev.last_boot.isoformat() if dev.last_boot else None,
            "pending_reboot": False if booted else target.attrs.get("pending_reboot", False),
        }
        ok = dev.online and booted
        detail = (
            "back online after reboot"
            if ok
            else ("offline" if not dev.online else "boot time did not move")
        )
        return Observation(target.id, check, ok, detail, facts)
    if check == "patches_installed":
        wanted = set(p.get("patch_ids") or [])
        states = {s.patch_id: s.status for s in adapters.need("rmm").patch_status(_device(target))}
        missing = sorted(x for x in wanted if states.get(x) != "installed")
        return Observation(
            target.id,
            check,
            not missing,
            "all installed" if not missing else f"not installed: {', '.join(missing)}",
            {"installed": sorted(x for x in wanted if x not in missing)},
        )
    if check == "service_running":
        hosts = _hosts_of(graph, target, None) if target.kind.value == "service" else []
        if p.get("host"):
            hosts = [graph.get(p["host"])]
        devices = {d.device_id: d for d in adapters.need("rmm").list_devices()}
        bad = []
        for h in hosts:
            d = devices.get(_device(h))
            state = d.services.get(target.name, "unknown") if d else "unknown"
            if state != "running":
                bad.append(f"{h.name}: {state}")
        return Observation(target.id, check, not bad, "running" if not bad else "; ".join(bad), {})
    if check == "user_disabled":
        uid = str(target.attrs.get("user_id") or target.source_ref or target.name)
        u = adapters.need("identity").get_user(uid)
        return Observation(
            target.id,
            check,
            u.status == "disabled",
            f"status {u.status}",
            {"status": u.status, "sessions": u.sessions},
        )
    if check == "ticket_commented":
        tid = str(target.source_ref or target.attrs.get("number") or target.name)
        t = adapters.need("psa").get_ticket(tid)
        return Observation(
            target.id, check, bool(t.comments), f"{len(t.comments)} comments", {"status": t.status}
        )
    return Observation(target.id, check, False, f"no way to observe '{check}'", {})
