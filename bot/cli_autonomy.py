"""``opshand runbook test`` and ``opshand patch-cycle``: autonomy from the command line.

Wire them with ``register_autonomy_commands(app)`` in ``bot/cli.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli_common import DataDir, JsonOut, SettingsFile, boot, dump, err, out

__all__ = ["load_signal_file", "register_autonomy_commands", "runbook_app"]

DEFAULT_RUNBOOKS = Path("examples/runbooks.yaml")
runbook_app = typer.Typer(help="Write and test runbooks for signals.", no_args_is_help=True)


def load_signal_file(path: Path) -> list[Any]:
    """Parse one example signal file (Alertmanager, PagerDuty or generic JSON, by shape).

    PagerDuty examples are unsigned files, so they are signed here with a throwaway key before
    the normal (verifying) parser reads them.
    """
    from adapters.signals import parse_alertmanager, parse_generic, parse_pagerduty

    body = path.read_bytes()
    data = json.loads(body)
    if isinstance(data, dict) and "alerts" in data and "version" in data:
        return list(parse_alertmanager(body))
    if isinstance(data, dict) and isinstance(data.get("event"), dict):
        key = SecretStr("runbook-test")
        sig = "v1=" + hmac.new(b"runbook-test", body, hashlib.sha256).hexdigest()
        return [parse_pagerduty(body, signature=sig, secret=key)]
    return [parse_generic(body, source=str(data.get("source", "generic")))]


@runbook_app.command("test")
def runbook_test(
    file: Annotated[Path, typer.Argument(help="Runbook file.")] = DEFAULT_RUNBOOKS,
    signals: Annotated[
        Path, typer.Option("--signals", help="Folder of example signal JSON files.")
    ] = Path("examples/signals"),
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
    as_json: JsonOut = False,
) -> None:
    """Show what each example signal would propose and what policy would decide (dry run)."""
    from adapters.errors import SignalError
    from agent.runbooks import RunbookError, load_runbooks
    from agent.signal_loop import preview

    try:
        rbs = load_runbooks(file)
    except (OSError, RunbookError) as exc:
        err.print(f"[red]Runbook error:[/red] {exc}")
        raise typer.Exit(2) from exc
    files = sorted(signals.glob("*.json")) if signals.is_dir() else [signals]
    if not files:
        err.print(f"[red]No signal files in {signals}[/red]")
        raise typer.Exit(2)
    oh = boot(data_dir, settings_file)
    rows: list[dict[str, Any]] = []
    try:
        for f in files:
            try:
                parsed = load_signal_file(f)
            except (SignalError, ValueError) as exc:
                rows.append({"file": f.name, "error": str(exc)})
                continue
            for sig in parsed:
                p = preview(oh.ops, rbs, sig)
                rows.append({"file": f.name, "signal": sig.title[:60], "runbook": p.runbook,
                             "action": p.action, "target": p.target, "params": p.params,
                             "decision": p.outcome, "reasons": list(p.reasons)})  # fmt: skip
    finally:
        oh.close()
    if as_json:
        dump(rows)
        return
    t = Table(title=f"{file}: {len(rbs)} runbook(s), {len(files)} signal file(s)")
    for col in ("file", "runbook", "proposes", "decision", "why"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if "error" in r:
            t.add_row(r["file"], "-", "-", "[red]bad signal[/red]", r["error"])
            continue
        proposes = f"{r['action']} {r['target'] or ''}".strip() if r["action"] else "-"
        colour = {"auto": "green", "consent": "yellow"}.get(r["decision"], "red")
        t.add_row(r["file"], r["runbook"] or "-", proposes,
                  f"[{colour}]{r['decision']}[/{colour}]", "; ".join(r["reasons"]))  # fmt: skip
    out.print(t)
    if any("error" in r for r in rows):
        raise typer.Exit(1)


def patch_cycle(
    client: Annotated[str | None, typer.Option("--client", help="Only this client.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    workers: Annotated[int, typer.Option(help="Threads executing changes.")] = 4,
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
    as_json: JsonOut = False,
) -> None:
    """Patch every host with pending patches: rings, maintenance windows, safe waves."""
    from agent.patch_cycle import CycleEvent, PatchCycle, PatchCycleSettings, plan_cycle

    oh = boot(data_dir, settings_file)
    try:
        plan = plan_cycle(oh.ops.graph, now=oh.ops.now(), client=client)
        if dry_run or not plan.waves:
            _show_plan(plan, as_json)
            return
        adapters = oh.ops.executor.adapters
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("patch cycle", total=len(plan.hosts))

            def show(e: CycleEvent) -> None:
                d = e.data
                if e.kind == "wave":
                    bar.update(task, description=f"wave {d['number']} ({d['ring']}, "
                               f"{d['size']} hosts)")  # fmt: skip
                elif e.kind == "wave_done":
                    bar.update(task, completed=sum(d["counts"].values()))
                elif e.kind == "quarantined":
                    err.print(f"[red]quarantined {d['patch']}[/red]: broke a service on "
                              f"{', '.join(d['hosts'][:5])}; rolling back")  # fmt: skip
                elif e.kind == "halted":
                    err.print(f"[red]halted:[/red] {d['reason']}")

            report = PatchCycle(
                oh.ops,
                rmm=adapters.need("rmm"),
                psa=adapters.psa,
                settings=PatchCycleSettings(workers=workers),
                progress=show,
            ).run(plan)
            bar.update(task, completed=len(report.results))
    finally:
        oh.close()
    if as_json:
        dump(report.to_dict())
        return
    out.print(report.summary())


def _show_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        dump({
            "waves": [{"number": w.number, "ring": w.ring, "hosts": [h.name for h in w.hosts]}
                      for w in plan.waves],
            "deferred": {h: r.detail for h, r in plan.deferred.items()},
            "windows": plan.windows,
        })  # fmt: skip
        return
    t = Table(title=f"Patch cycle plan: {len(plan.hosts)} hosts, {len(plan.waves)} waves")
    for col in ("wave", "ring", "hosts", "first hosts"):
        t.add_column(col)
    for w in plan.waves:
        t.add_row(str(w.number), w.ring, str(len(w.hosts)),
                  ", ".join(h.name for h in w.hosts[:3]))  # fmt: skip
    out.print(t)
    for c, state in sorted(plan.windows.items()):
        out.print(f"  {c}: maintenance window {state}")
    if plan.deferred:
        out.print(f"  {len(plan.deferred)} host(s) deferred until their window opens")


def register_autonomy_commands(app: typer.Typer) -> None:
    """Add ``runbook`` (with ``test``) and ``patch-cycle`` to the ``opshand`` command."""
    app.add_typer(runbook_app, name="runbook")
    app.command("patch-cycle")(patch_cycle)
