"""What the staged cycle runs on: its clock, limits, request budget, per-client state and the
arithmetic of its evidence (kept apart from :mod:`agent.patching.staged`, which drives them)."""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from adapters.contracts import Device
from agent.patching.report import CycleReport
from agent.patching.stages import ClientPlan, StagedHost

__all__ = [
    "ClientRun",
    "CycleClock",
    "InFlight",
    "RequestBudget",
    "StagedSettings",
    "broken_services",
    "over_background",
    "suspect_patches",
]


class CycleClock(Protocol):
    """Where the cycle reads the time and how it waits (the sim's clocks fit)."""

    def now(self) -> datetime: ...
    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class StagedSettings:
    """Limits shared by every client's cycle."""

    max_in_flight: int = 800
    """Jobs running at once across all clients."""
    rmm_per_minute: int = 600
    """RMM requests in any 60 seconds (Datto RMM's published limit)."""
    poll_seconds: float = 60.0
    expected_job_seconds: float = 7 * 60
    """A job is first polled this long after it was submitted."""
    job_timeout_seconds: float = 60 * 60
    background_failure_rate: float = 0.03
    """Failures expected anyway; only a rate clearly above it halts."""
    failure_budget: float = 0.10
    """The cycle halts once more than this share of its hosts failed."""
    retries: int = 1
    requester: str = "signal:patch-cycle"


class RequestBudget:
    """At most ``per_minute`` requests in any 60 seconds of ``clock`` time."""

    def __init__(self, per_minute: int, clock: CycleClock) -> None:
        if per_minute < 1:
            raise ValueError(f"rmm_per_minute must be at least 1, got {per_minute}")
        self.per_minute, self.clock = per_minute, clock
        self._sent: deque[datetime] = deque()
        self.total = 0
        self.peak = 0

    def take(self, *, force: bool = False) -> bool:
        """Spend one request if the budget allows (``force``: a health read always goes)."""
        now = self.clock.now()
        while self._sent and self._sent[0] <= now - timedelta(seconds=60):
            self._sent.popleft()
        if len(self._sent) >= self.per_minute and not force:
            return False
        self._sent.append(now)
        self.total += 1
        self.peak = max(self.peak, len(self._sent))
        return True


@dataclass
class InFlight:
    host: StagedHost
    kind: str
    """``patch`` or ``uninstall``."""
    patch_ids: tuple[str, ...]
    started: datetime
    key: str = ""
    """The idempotency key the job was submitted with."""


@dataclass
class ClientRun:
    plan: ClientPlan
    report: CycleReport
    cycle_id: str
    phase: str = "waiting"
    stage: int = 0
    next_tick: datetime | None = None
    soak_until: datetime | None = None
    queue: list[StagedHost] = field(default_factory=list)
    carry: list[StagedHost] = field(default_factory=list)
    """Failed or offline hosts tried again in the next stage."""
    jobs: dict[str, InFlight] = field(default_factory=dict)
    down: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    installed: dict[str, set[str]] = field(default_factory=dict)
    baseline: dict[str, Device] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    """Hosts held out by policy (denied, or consent not given)."""
    done_ok: int = 0
    failures: int = 0
    stages_run: int = 0
    posts: int = 0
    peak_in_flight: int = 0
    finished_at: datetime | None = None
    pending_audit: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Audit rows (kind, body) of this tick's integration calls and job results, written
    together at the end of the tick."""
    stage_calls: Counter[str] = field(default_factory=Counter)
    """``capability:outcome`` -> calls made in the current stage (its summary row's tally)."""

    def stats(self, now: datetime) -> dict[str, Any]:
        """Stages, peak jobs in flight, Slack posts, hours from opening to done (or ``now``)."""
        end = self.finished_at or now
        return {
            "stages": self.stages_run,
            "peak_in_flight": self.peak_in_flight,
            "slack_posts": self.posts,
            "hours_from_opening": round((end - self.plan.opens_at).total_seconds() / 3600, 2),
            "opens_at": self.plan.opens_at.isoformat(),
            "failures": self.failures,
        }


def over_background(failures: int, done: int, rate: float) -> bool:
    """Whether ``failures`` of ``done`` jobs is clearly above the background ``rate``: more than
    the expected count plus three standard deviations plus one (a single unlucky failure in a
    small canary never halts; a third of it failing does)."""
    limit = done * rate + 3 * math.sqrt(done * rate * (1 - rate)) + 1
    return failures > limit


def broken_services(
    hosts: dict[str, StagedHost],
    patched: set[str],
    before: dict[str, Device],
    after: dict[str, Device],
) -> dict[str, set[str]]:
    """Patched host -> services failing now that did not fail before the cycle."""
    out = {}
    for hid in sorted(patched):
        dev, old = after.get(hosts[hid].device_id), before.get(hosts[hid].device_id)
        if dev is None:
            continue
        prior = old.services if old is not None else {}
        names = {k for k, v in dev.services.items() if v == "failed" and prior.get(k) != v}
        if names:
            out[hid] = names
    return out


def suspect_patches(
    broken: dict[str, set[str]],
    installed: dict[str, set[str]],
    hosts: dict[str, StagedHost],
    after: dict[str, Device],
) -> set[str]:
    """The patches every broken host got from this cycle, less those that also went onto a host
    where the broken service still runs (when that leaves another suspect)."""
    have = [{kb for kb, hs in installed.items() if hid in hs} for hid in broken]
    suspects = set.intersection(*have) if have else set()
    names = set().union(*broken.values())
    for kb in sorted(suspects):
        for other in installed.get(kb, set()) - set(broken):
            dev = after.get(hosts[other].device_id)
            if dev is not None and any(dev.services.get(n) == "running" for n in names):
                if len(suspects) > 1:
                    suspects.discard(kb)
                break
    return suspects
