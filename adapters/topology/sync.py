"""One topology sync: read every source, match, apply, age learned relations, recompute coverage.

Sources are read in the order given (hardware first is best: a hypervisor manager's hostnames
and IPs then help match the CMDB's records). Each source's batch is a full sync of that source:
what it no longer states is withdrawn from its claims, never from another source's. Learned
relations unseen for their time-to-live age out and are reported (RELIABILITY G3). Coverage is
recomputed last, so it reflects this sync (:mod:`twin.coverage`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.errors import AdapterError
from adapters.topology.catalog import CatalogError
from adapters.topology.contract import TopologySource
from adapters.topology.match import MatchReport, TwinIndex, match_report
from twin import ApplyResult, Entity, TwinStore, utcnow
from twin.coverage import DEFAULT_COVERAGE_WINDOW, Level, refresh_coverage
from twin.provenance import DEFAULT_LEARNED_TTL, Claim

__all__ = ["TopologySync", "sync_topology"]


@dataclass
class TopologySync:
    """What a topology sync did, per source and overall."""

    reports: list[MatchReport] = field(default_factory=list)
    applied: dict[str, ApplyResult] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(source, why) for sources that could not be read; their claims stay as they were."""
    aged: list[Claim] = field(default_factory=list)
    """Learned relations that aged out in this sync."""
    coverage: dict[str, Level] = field(default_factory=dict)

    def uncovered(self) -> list[str]:
        """Entity ids whose coverage is ``none``."""
        return sorted(e for e, level in self.coverage.items() if level == "none")


def sync_topology(
    store: TwinStore,
    sources: Sequence[TopologySource],
    *,
    now: datetime | None = None,
    learned_ttl: timedelta = DEFAULT_LEARNED_TTL,
    window: timedelta = DEFAULT_COVERAGE_WINDOW,
    actor: str = "sync",
    on_error: Callable[[str, AdapterError | CatalogError], None] | None = None,
) -> TopologySync:
    """Sync the twin's topology from ``sources``.

    Args:
        store: the twin.
        sources: topology sources, read in this order.
        now: the clock for ageing and coverage (default: now).
        learned_ttl: how long a learned relation lives unseen (``twin_learned_ttl_hours``).
        window: how recent a confirmation must be to count for coverage.
        actor: recorded on every change-set.
        on_error: called with (source, error) when a source fails (an adapter error, or a
            catalog file unreadable or wrong); the others still sync. Without it the first
            failure is raised.

    Raises:
        AdapterError: a source failed and no ``on_error`` was given.
        CatalogError: a catalog file failed and no ``on_error`` was given.
    """
    now = now or utcnow()
    out = TopologySync()
    index = TwinIndex(store.load().entities())
    for src in sources:
        try:
            report = src.read_topology()
        except (AdapterError, CatalogError) as exc:  # a catalog file gone or broken, too
            if on_error is None:
                raise
            on_error(src.source, exc)
            out.failed.append((src.source, str(exc)))
            continue
        mr = match_report(report, index, actor=actor)
        out.reports.append(mr)
        if mr.batch is not None:
            out.applied[report.source] = store.apply(mr.batch)
            # what this source matched or added is matchable by its vendor id from now on
            index.add(e for e in mr.batch.entities if isinstance(e, Entity))
    out.aged = store.age_learned(now=now, ttl=learned_ttl)
    out.coverage = refresh_coverage(store, now=now, window=window, actor=actor)
    return out
