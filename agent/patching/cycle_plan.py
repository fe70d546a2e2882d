"""The wave cycle's plan: every pending patch in the twin, as waves ring by ring.

:func:`plan_cycle` reads the twin: hosts with pending patches, their ring (host attribute
``patch_ring``: canary -> early -> broad), their client's maintenance window (client attribute
``maintenance_window``) and what runs on them. Waves never hold two instances of one service or
two members of one cluster, so redundancy survives every wave. Hosts whose window is closed are
deferred before the cycle starts. :class:`~agent.patching.cycle.PatchCycle` runs the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from agent.patching.report import HostResult
from twin.graph import TwinGraph
from twin.invariants.safety import in_window, next_opening
from twin.model import EdgeType, NodeKind

__all__ = ["CyclePlan", "HostPlan", "PatchCycleSettings", "Wave", "plan_cycle"]

RINGS = ("canary", "early", "broad")
"""Rings in the order they are patched; a host with no (or an unknown) ``patch_ring`` is broad."""


@dataclass(frozen=True)
class PatchCycleSettings:
    """How a cycle rolls out; the operator's policy still decides each host."""

    wave_percent: int = 10
    """At most this share of a ring per wave."""
    max_wave: int = 250
    halt_failure_rate: float = 0.25
    """A wave whose failure share exceeds this (with at least ``halt_min_failures``) halts."""
    halt_min_failures: int = 3
    retries: int = 1
    """Failed hosts are proposed again this many times (policy decides again), then escalated."""
    respect_windows: bool = True
    workers: int = 1
    """Threads calling :meth:`Operations.drain` at once (the RMM runs jobs in parallel). Each
    drain claims up to ten changes and runs them in turn, so parallelism is at most
    ``min(workers, ceil(wave / 10))`` with the stock executor."""
    requester: str = "signal:patch-cycle"


@dataclass(frozen=True)
class HostPlan:
    """One host to patch."""

    host_id: str
    name: str
    client: str
    ring: str
    device_id: str
    patch_ids: tuple[str, ...]
    reboot: bool


@dataclass(frozen=True)
class Wave:
    """Hosts patched together: no two instances of one service or members of one cluster."""

    number: int
    """1-based; 0 for a retry wave."""
    ring: str
    hosts: tuple[HostPlan, ...]


@dataclass(frozen=True)
class CyclePlan:
    """The whole cycle: waves in order, and hosts deferred before it starts."""

    waves: tuple[Wave, ...]
    deferred: dict[str, HostResult]
    windows: dict[str, str]
    """Client -> ``open`` or when its window next opens."""
    created_at: datetime

    @property
    def hosts(self) -> list[str]:
        """Every host the plan names (waves and deferred)."""
        return [h.host_id for w in self.waves for h in w.hosts] + list(self.deferred)


def _pending(graph: TwinGraph, host_id: str) -> tuple[tuple[str, ...], bool]:
    ids, reboot = set(), False
    for t, s in graph.in_edges(host_id):
        if t is EdgeType.PENDING_ON:
            p = graph.get(s)
            if p.active and p.attrs.get("status", "pending") == "pending":
                ids.add(str(p.attrs.get("patch_id")))
                reboot = reboot or bool(p.attrs.get("reboot_required"))
    return tuple(sorted(ids)), reboot


def _groups(graph: TwinGraph, host_id: str) -> set[str]:
    out = {s for t, s in graph.in_edges(host_id) if t is EdgeType.RUNS_ON}
    return out | {d for t, d in graph.out_edges(host_id) if t is EdgeType.MEMBER_OF}


def _split(graph: TwinGraph, hosts: list[HostPlan], size: int) -> list[list[HostPlan]]:
    waves: list[list[HostPlan]] = []
    pending = hosts
    groups = {h.host_id: _groups(graph, h.host_id) for h in hosts}
    while pending:
        wave: list[HostPlan] = []
        used: set[str] = set()
        rest: list[HostPlan] = []
        for h in pending:
            if len(wave) < size and not groups[h.host_id] & used:
                wave.append(h)
                used |= groups[h.host_id]
            else:
                rest.append(h)
        waves.append(wave)
        pending = rest
    return waves


def plan_cycle(
    graph: TwinGraph,
    *,
    now: datetime,
    client: str | None = None,
    settings: PatchCycleSettings | None = None,
) -> CyclePlan:
    """Plan a cycle from the twin's pending patches (optionally for one client)."""
    s = settings or PatchCycleSettings()
    windows: dict[str, str] = {}
    deferred: dict[str, HostResult] = {}
    by_ring: dict[str, list[HostPlan]] = {r: [] for r in RINGS}
    for host in graph.entities():
        if host.kind is not NodeKind.HOST or not host.active:
            continue
        slug = str(host.attrs.get("client", ""))
        if client is not None and slug != client:
            continue
        ids, reboot = _pending(graph, host.id)
        if not ids:
            continue
        if slug not in windows:
            cid = f"client:{slug}"
            win = graph.get(cid).attrs.get("maintenance_window") if cid in graph.g else None
            if not isinstance(win, dict) or in_window(win, now):
                windows[slug] = "open"
            else:
                nxt = next_opening(win, now)
                windows[slug] = f"opens {nxt.isoformat()}" if nxt else "never opens"
        ring = str(host.attrs.get("patch_ring", "broad"))
        hp = HostPlan(
            host_id=host.id, name=host.name, client=slug, ring=ring if ring in RINGS else "broad",
            device_id=str(host.attrs.get("device_id") or host.source_ref), patch_ids=ids,
            reboot=reboot,
        )  # fmt: skip
        if s.respect_windows and windows[slug] != "open":
            deferred[host.id] = HostResult(
                host.id, "deferred_window", f"maintenance window {windows[slug]}", ids
            )
            continue
        by_ring[hp.ring].append(hp)
    waves: list[Wave] = []
    for ring in RINGS:
        hosts = sorted(by_ring[ring], key=lambda h: (h.client, h.name))
        if not hosts:
            continue
        size = min(s.max_wave, max(1, math.ceil(len(hosts) * s.wave_percent / 100)))
        for group in _split(graph, hosts, size):
            waves.append(Wave(len(waves) + 1, ring, tuple(group)))
    return CyclePlan(tuple(waves), deferred, windows, now)
