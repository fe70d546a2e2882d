"""``opshand patch-cycle``: the staged cycle (the command's default) from the command line.

``--dry-run --at TIME`` previews the plan any window would run (each client's opening after
``TIME``, its stages, its card); a real run patches the clients whose window is open now and
defers the others with their next opening (``--wait`` waits for them instead). Durations (poll,
soaks, p95, rollback) are scaled by the sim's time scale when the RMM is the sim, so the demo's
seconds-long jobs are not polled once a minute.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from bot.cli.common import dump, err, out

__all__ = ["parse_at", "run_staged"]


def parse_at(text: str | None, now: datetime) -> datetime:
    """``--at``: an ISO date-time (a naive one is UTC) or ``now``; a clear error otherwise."""
    if text is None or text.strip().lower() == "now":
        return now
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        err.print(f"[red]--at {text!r} is not a date-time.[/red] Use e.g. 2026-11-28T22:30 or "
                  "2026-11-28T22:30-05:00 (no zone means UTC).")  # fmt: skip
        raise typer.Exit(2) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _scaled(obj: Any, scale: float) -> Any:
    """A settings dataclass with every ``*_seconds`` field multiplied by ``scale``."""
    return replace(obj, **{f.name: getattr(obj, f.name) * scale for f in fields(obj)
                           if f.name.endswith("_seconds")})  # fmt: skip


def _stages(p: Any) -> list[dict[str, Any]]:
    return [
        {
            "number": s.number,
            "name": s.name,
            "soak_minutes": round(s.soak_seconds / 60),
            "hosts": [h.name for h in s.hosts],
        }
        for s in p.stages
    ]


def _preview(plans: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "clients": {slug: {**p.card(), "stages": _stages(p)} for slug, p in plans.items()},
    }


def _show(preview: dict[str, Any]) -> None:
    t = Table(title=f"Staged patch cycle as planned at {preview['at']}")
    for col in ("client", "window opens", "closes", "hosts", "stages", "exceptions"):
        t.add_column(col, overflow="fold")  # a cut time ("2026-12-05T2…") says nothing
    for slug, c in preview["clients"].items():
        stages = " -> ".join(f"{s['name']} ({len(s['hosts'])})" for s in c["stages"])
        t.add_row(slug, c["opens_at"], c["closes_at"] or "-", str(c["hosts"]), stages,
                  str(len(c["production_exceptions"])))  # fmt: skip
    out.print(t)


def run_staged(
    oh: Any, *, client: str | None, dry_run: bool, at_text: str | None, wait: bool,
    as_json: bool, progress: Any = None, approve: bool = False,
) -> None:  # fmt: skip
    """Plan (and unless ``dry_run``, run) the staged cycle; prints the preview or the reports."""
    from adapters.sim import SystemClock
    from agent.patching import StagedCycle, StagedSettings, StageSettings, plan_stages

    now = oh.ops.now()
    at = parse_at(at_text, now)
    scale = oh.settings.sim_scale if oh.sim is not None else 1.0
    stage_settings = _scaled(StageSettings(), scale)
    try:
        plans = plan_stages(oh.ops.graph, at=at, client=client, settings=stage_settings)
    except ValueError as exc:
        err.print(f"[red]Cannot plan:[/red] {exc}")
        raise typer.Exit(2) from None
    preview = _preview(plans, at)
    if dry_run:
        if as_json:
            dump(preview)
        else:
            _show(preview)
        return
    if not wait:  # only clients whose window is open now run; the others are shown, not waited on
        later = {c: p for c, p in plans.items() if p.opens_at > now}
        for slug, p in later.items():
            err.print(f"{slug}: window opens {p.opens_at.isoformat()}; run again then or --wait")
        plans = {c: p for c, p in plans.items() if c not in later}
    adapters = oh.ops.executor.adapters
    cycle = StagedCycle(
        oh.ops, rmm=adapters.need("rmm"), psa=adapters.psa, clock=SystemClock(),
        settings=_scaled(StagedSettings(), scale), progress=progress,
        approve=(lambda card: True) if approve else None,
    )  # fmt: skip
    reports = cycle.run(plans)
    result = {slug: {**r.to_dict(), **cycle.stats()[slug]} for slug, r in reports.items()}
    if as_json:
        dump({"at": now.isoformat(), "clients": result})
        return
    for r in reports.values():
        out.print(r.summary())
    if not reports:
        out.print("No client's window is open now.")
