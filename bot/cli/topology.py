"""The topology half of ``opshand twin sync`` and ``opshand twin conflicts``.

``twin sync`` reads the topology sources after the inventories: the settings' ``topology.sources``
when configured (:mod:`adapters.topology.config`), otherwise (the demo) the simulated CMDB,
vCenter, Proxmox, NetBox and trace telemetry derived from the sample's ground truth
(:mod:`adapters.topology.sim`). ``--explain`` shows what matching made of each source's
records: matched (and on which identifier), new, ambiguous (left out, never guessed) and
unmatched twin entities. ``twin conflicts`` lists where sources disagree, both readings kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.table import Table

from bot.cli.common import dump, out

__all__ = ["conflicts_report", "print_conflicts", "print_explain", "topology_sync"]

_SHOW = 10


def topology_sync(oh: Any, *, transport: Any = None) -> Any:
    """Sync topology into ``oh``'s twin; returns the sync result.

    The sources are the settings' ``topology.sources`` when any is listed (the real CMDB,
    vCenter ...), else the simulated ones derived from the sample. A source that fails is
    reported in the result's ``failed`` and its claims stay as they were.

    Raises:
        adapters.integration_config.ConfigError: a configured source cannot be built.
    """
    from adapters.topology import (
        build_topology_sources,
        sim_topology_sources,
        sync_topology,
    )

    s = oh.settings
    config = s.topology
    built = build_topology_sources(config, transport=transport) if config.sources else []
    try:
        if built:
            sources: list[Any] = [b.client for b in built]
        else:
            from twin.sample import generate_estate

            truth = generate_estate(endpoints=s.sample_endpoints)
            sources = list(sim_topology_sources(truth.entities, truth.relations))
        return sync_topology(
            oh.store,
            sources,
            learned_ttl=timedelta(hours=s.twin_learned_ttl_hours),
            window=timedelta(hours=s.twin_coverage_window_hours),
            actor="cli",
            on_error=lambda *_: None,
        )
    finally:
        for b in built:
            b.close()


def explain_rows(result: Any) -> list[dict[str, Any]]:
    """Per source: the match report and what the sync applied."""
    rows = []
    for r in result.reports:
        applied = result.applied.get(r.source)
        rows.append(
            {
                "source": r.source,
                **r.counts(),
                "changed": applied.changed if applied else 0,
                "rejected": [str(x) for x in applied.rejections] if applied else [],
                "matched_on": _by_key(r.matched),
                "new_ids": [eid for _, eid in r.new],
                "ambiguous_records": [{"record": n, "fits": ids} for n, ids in r.ambiguous],
                "unmatched_ids": r.unmatched,
            }
        )
    return rows


def _by_key(matched: list[tuple[str, str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, how in matched:
        counts[how] = counts.get(how, 0) + 1
    return dict(sorted(counts.items()))


def print_explain(result: Any) -> None:
    """The match report as tables, then aged relations and coverage."""
    for row in explain_rows(result):
        t = Table(title=f"{row['source']}: how its records matched the twin")
        for c in ("matched", "new", "ambiguous", "unmatched", "dropped_links"):
            t.add_column(c, justify="right")
        t.add_row(
            *(str(row[c]) for c in ("matched", "new", "ambiguous", "unmatched", "dropped_links"))
        )
        out.print(t)
        if row["matched_on"]:
            out.print(
                "  matched on: " + ", ".join(f"{k} {n}" for k, n in row["matched_on"].items())
            )
        for a in row["ambiguous_records"][:_SHOW]:
            out.print(f"  ambiguous: {a['record']} fits {', '.join(a['fits'])} (left out)")
        if row["new_ids"]:
            out.print("  new: " + ", ".join(row["new_ids"][:_SHOW]))
    for c in result.aged[:_SHOW]:
        out.print(
            f"aged out: {c.src} -{c.type}-> {c.dst} ({c.source}, last seen {c.last_seen:%Y-%m-%d})"
        )
    levels = {
        lvl: sum(1 for v in result.coverage.values() if v == lvl)
        for lvl in ("full", "partial", "none")
    }
    out.print(
        f"coverage: {levels['full']} full, {levels['partial']} partial, {levels['none']} none"
    )
    for name, why in result.failed:
        out.print(f"[red]{name} failed:[/red] {why}")


def conflicts_report(engine: Any) -> list[dict[str, Any]]:
    """Every disagreement between sources as plain data."""
    from twin.coverage import find_conflicts

    return [
        {
            "what": c.what,
            "entity": c.entity,
            "detail": c.detail,
            "sources": c.values,
            "used": c.used,
        }
        for c in find_conflicts(engine)
    ]


def print_conflicts(rows: list[dict[str, Any]], *, json_out: bool, limit: int) -> None:
    """A table of conflicts (or JSON)."""
    if json_out:
        dump({"total": len(rows), "items": rows})
        return
    t = Table(title=f"{len(rows)} disagreements between sources (both kept)")
    for c in ("entity", "about", "what each source says", "decisions use"):
        t.add_column(c)
    for r in rows[:limit]:
        said = "; ".join(f"{s}: {v}" for s, v in sorted(r["sources"].items()))
        t.add_row(r["entity"], r["detail"], said, r["used"])
    out.print(t)
