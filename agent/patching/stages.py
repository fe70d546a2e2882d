"""Staged patch plans: canary, soak, early ring, growing broad stages, per client and window.

:func:`plan_stages` reads the twin once and returns one :class:`ClientPlan` per client with
pending patches. Stages grow (canary -> early -> 10% -> 30% -> 60% -> rest of broad), so a client
of 800 hosts needs six barriers, not the ~28 of fixed 10% waves, and a bad patch or a failure
spike still shows in a small stage first. The canary holds low-blast hosts only: a canary host
that others depend on (a DNS server with 19 dependents) moves to the early stage.

Hosts that run a service or sit in a cluster carry their *groups*; the runner keeps no more of
a group down at once than its redundancy budget (like Kubernetes ``maxUnavailable``). Plain
endpoints have no group and need no split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from twin.graph import TwinGraph
from twin.invariants.safety import in_window, next_opening
from twin.model import EdgeType, NodeKind

__all__ = [
    "ClientPlan",
    "StagePlan",
    "StageSettings",
    "StagedHost",
    "plan_drift",
    "plan_stages",
    "window_close",
    "window_opening",
]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class StageSettings:
    """How a client's hosts are staged and timed; the operator's policy still decides hosts."""

    broad_steps: tuple[float, ...] = (0.10, 0.30, 0.60, 1.0)
    """Cumulative shares of the broad ring patched by the end of each broad stage."""
    canary_max_blast: int = 3
    """A canary host with more dependents than this moves to the early stage."""
    canary_min: int = 2
    """With no canary ring, this many of the lowest-blast plain endpoints become the canary."""
    redundancy: float = 0.34
    """Share of a service's or cluster's hosts that may be down at once (at least one)."""
    canary_soak_seconds: float = 20 * 60
    early_soak_seconds: float = 10 * 60
    broad_soak_seconds: float = 5 * 60
    p95_job_seconds: float = 10 * 60
    """Assumed p95 of a host's job until the cycle has measured its own."""
    rollback_seconds: float = 10 * 60
    """Time kept in the window to uninstall a patch the soak shows is bad."""


@dataclass(frozen=True)
class StagedHost:
    """One host to patch, with what its staging depends on."""

    host_id: str
    name: str
    client: str
    ring: str
    device_id: str
    patch_ids: tuple[str, ...]
    reboot: bool
    blast: int
    """Entities that transitively need this host."""
    groups: tuple[str, ...]
    """Services running on it and clusters it belongs to."""
    environment: str = ""


@dataclass(frozen=True)
class StagePlan:
    """One stage: its hosts and the soak after it."""

    number: int
    name: str
    hosts: tuple[StagedHost, ...]
    soak_seconds: float


@dataclass(frozen=True)
class ClientPlan:
    """A client's whole cycle: stages, redundancy budgets and its window."""

    client: str
    stages: tuple[StagePlan, ...]
    budgets: dict[str, int]
    """Group (service or cluster id) -> hosts that may be down at once."""
    window: dict[str, Any] | None
    opens_at: datetime
    """When the cycle may start (``at`` if the window is open then)."""
    closes_at: datetime | None
    """When that opening closes (``None``: no window, never closes)."""
    settings: StageSettings = field(default_factory=StageSettings)

    @property
    def hosts(self) -> list[StagedHost]:
        """Every host of every stage, in stage order."""
        return [h for s in self.stages for h in s.hosts]

    def card(self, *, sample: int = 5, exceptions: list[str] | None = None) -> dict[str, Any]:
        """What one approval shows: counts, stages, a sample of hosts, production exceptions."""
        hosts = self.hosts
        prod = [h.name for h in hosts if h.environment in ("prod", "production") and h.groups]
        return {
            "client": self.client,
            "hosts": len(hosts),
            "patches": len({p for h in hosts for p in h.patch_ids}),
            "reboots": sum(h.reboot for h in hosts),
            "opens_at": self.opens_at.isoformat(),
            "closes_at": self.closes_at.isoformat() if self.closes_at else None,
            "stages": [
                {"name": s.name, "hosts": len(s.hosts), "soak_minutes": round(s.soak_seconds / 60)}
                for s in self.stages
            ],
            "sample": [h.name for s in self.stages for h in s.hosts[:1]][:sample],
            "production_exceptions": sorted(exceptions if exceptions is not None else prod),
            "redundancy_groups": len(self.budgets),
        }


def window_close(window: dict[str, Any], at: datetime) -> datetime | None:
    """When the opening of ``window`` that contains ``at`` closes (``None``: not open then, or
    open around the clock)."""
    if not in_window(window, at):
        return None
    tz = ZoneInfo(str(window.get("tz", "UTC")))
    local = at.astimezone(tz)
    start, end = _hm(str(window.get("start", "00:00"))), _hm(str(window.get("end", "00:00")))
    if start == end and {str(d).lower()[:3] for d in window.get("days", _DAYS)} >= set(_DAYS):
        return None  # open around the clock every day: it never closes
    day = local.date()
    if start < end or local.time() < end:
        return datetime.combine(day, end, tzinfo=tz)
    return datetime.combine(day + timedelta(days=1), end, tzinfo=tz)


def window_opening(window: dict[str, Any] | None, at: datetime) -> tuple[datetime, datetime | None]:
    """The opening a cycle planned at ``at`` uses: ``(starts, closes)``.

    Raises:
        ValueError: the window never opens.
    """
    if not isinstance(window, dict):
        return at, None
    if in_window(window, at):
        return at, window_close(window, at)
    nxt = next_opening(window, at)
    if nxt is None:
        raise ValueError(f"maintenance window {window} never opens")
    return nxt, window_close(window, nxt + timedelta(seconds=1))


def _hm(text: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(f"window time {text!r} is not HH:MM") from exc


def _pending(graph: TwinGraph, host_id: str) -> tuple[tuple[str, ...], bool]:
    ids, reboot = set(), False
    for t, s in graph.in_edges(host_id):
        if t is EdgeType.PENDING_ON:
            p = graph.get(s)
            if p.active and p.attrs.get("status", "pending") == "pending":
                ids.add(str(p.attrs.get("patch_id")))
                reboot = reboot or bool(p.attrs.get("reboot_required"))
    return tuple(sorted(ids)), reboot


def _groups(graph: TwinGraph, host_id: str) -> tuple[str, ...]:
    out = {s for t, s in graph.in_edges(host_id) if t is EdgeType.RUNS_ON}
    out |= {d for t, d in graph.out_edges(host_id) if t is EdgeType.MEMBER_OF}
    return tuple(sorted(out))


def _budgets(graph: TwinGraph, groups: set[str], share: float) -> dict[str, int]:
    out = {}
    for g in sorted(groups):
        members = {s for t, s in graph.in_edges(g) if t is EdgeType.MEMBER_OF}
        members |= {d for t, d in graph.out_edges(g) if t is EdgeType.RUNS_ON}
        out[g] = max(1, math.floor(len(members) * share))
    return out


def _stages(hosts: list[StagedHost], s: StageSettings) -> list[StagePlan]:
    canary = [h for h in hosts if h.ring == "canary" and h.blast <= s.canary_max_blast]
    early = [h for h in hosts if h.ring == "early" or (h.ring == "canary" and h not in canary)]
    broad = [h for h in hosts if h.ring not in ("canary", "early")]
    if not canary:
        plain = sorted((h for h in broad if not h.groups and h.blast == 0), key=lambda h: h.name)
        canary = plain[: s.canary_min]
        broad = [h for h in broad if h not in canary]
    broad.sort(key=lambda h: (h.blast, h.name))
    out: list[tuple[str, list[StagedHost], float]] = [
        ("canary", canary, s.canary_soak_seconds),
        ("early", early, s.early_soak_seconds),
    ]
    done = 0
    for step in s.broad_steps:
        upto = len(broad) if step >= 1 else math.ceil(len(broad) * step)
        out.append((f"broad {round(step * 100)}%", broad[done:upto], s.broad_soak_seconds))
        done = upto
    plans = [(n, sorted(hs, key=lambda h: h.name), soak) for n, hs, soak in out if hs]
    return [StagePlan(i + 1, n, tuple(hs), soak) for i, (n, hs, soak) in enumerate(plans)]


def _staged_host(graph: TwinGraph, host_id: str, ids: tuple[str, ...], reboot: bool) -> StagedHost:
    host = graph.get(host_id)
    return StagedHost(
        host_id=host.id,
        name=host.name,
        client=str(host.attrs.get("client", "")),
        ring=str(host.attrs.get("patch_ring", "broad")),
        device_id=str(host.attrs.get("device_id") or host.source_ref),
        patch_ids=ids,
        reboot=reboot,
        blast=len(graph.blast_radius(host.id).items),
        groups=_groups(graph, host.id),
        environment=str(host.attrs.get("env", "")),
    )


_DRIFT_FIELDS = ("device_id", "patch_ids", "reboot", "blast", "groups", "environment")


def plan_drift(graph: TwinGraph, plan: ClientPlan) -> dict[str, list[str]]:
    """Host id -> how the twin now differs from what ``plan`` was made from (RELIABILITY G4).

    A cycle planned ahead of its window re-reads its hosts when it starts; a host whose
    patches, reboot, dependents, services or clusters, environment or device changed goes back
    to a person with these differences. A host that left the twin is not listed here: its
    rehearsal fails and policy refuses it.
    """
    out: dict[str, list[str]] = {}
    for h in plan.hosts:
        if h.host_id not in graph or not graph.get(h.host_id).active:
            continue
        now = _staged_host(graph, h.host_id, *_pending(graph, h.host_id))
        diffs = [
            f"{f}: {_show(getattr(h, f))} -> {_show(getattr(now, f))}"
            for f in _DRIFT_FIELDS
            if getattr(h, f) != getattr(now, f)
        ]
        if diffs:
            out[h.host_id] = diffs
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value) or "none"


def plan_stages(
    graph: TwinGraph,
    *,
    at: datetime,
    client: str | None = None,
    settings: StageSettings | None = None,
) -> dict[str, ClientPlan]:
    """One staged plan per client with pending patches, each in its window's next opening."""
    s = settings or StageSettings()
    by_client: dict[str, list[StagedHost]] = {}
    for host in graph.entities(NodeKind.HOST):
        if not host.active:
            continue
        slug = str(host.attrs.get("client", ""))
        if client is not None and slug != client:
            continue
        ids, reboot = _pending(graph, host.id)
        if not ids:
            continue
        by_client.setdefault(slug, []).append(_staged_host(graph, host.id, ids, reboot))
    plans = {}
    for slug, hosts in sorted(by_client.items()):
        cid = f"client:{slug}"
        win = graph.get(cid).attrs.get("maintenance_window") if cid in graph else None
        window = win if isinstance(win, dict) else None
        opens, closes = window_opening(window, at)
        groups = {g for h in hosts for g in h.groups}
        plans[slug] = ClientPlan(
            client=slug,
            stages=tuple(_stages(hosts, s)),
            budgets=_budgets(graph, groups, s.redundancy),
            window=window,
            opens_at=opens,
            closes_at=closes,
            settings=s,
        )
    return plans
