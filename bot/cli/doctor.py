"""``opshand doctor``: check the configuration and say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import DataDir, JsonOut, SettingsFile, dump, out, settings
from bot.doctor import run_doctor

__all__ = ["register_doctor_command"]

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor(
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
    json_out: JsonOut = False,
    model_call: Annotated[
        bool,
        typer.Option(
            "--model-call", help="Also send the model a one-token request (costs a call)."
        ),
    ] = False,
) -> None:
    """Check settings, database, Slack, policy, runbooks, integrations and the model.

    Read-only; exits 1 when anything would stop opshand from working.
    """
    over: dict[str, Any] = {}
    if data_dir is not None:
        over["data_dir"] = Path(data_dir)
    findings = run_doctor(settings_file, overrides=over, model_call=model_call)
    if json_out:
        dump([f.model_dump() for f in findings])
    else:
        table = Table(title="opshand doctor")
        for column in ("check", "result", "what to do"):
            table.add_column(column, overflow="fold")
        for f in findings:
            style = _STYLE[f.status]
            table.add_row(f.check, f"[{style}]{f.status}[/{style}] {f.detail}", f.fix)
        out.print(table)
    failed = [f for f in findings if f.status == "fail"]
    if failed:
        out.print(f"[red]{len(failed)} problem(s) to fix before opshand can work.[/red]")
        raise typer.Exit(1)


def migrate(data_dir: DataDir = None, settings_file: SettingsFile = None) -> None:
    """Bring the database schema to the newest revision (run before starting new replicas)."""
    import bot.bootstrap  # noqa: F401  (registers every table on the metadata)
    from twin.db import make_engine, metadata
    from twin.db import migrate as upgrade

    s = settings(data_dir, settings_file)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(s.db_url)
    try:
        revision = upgrade(engine, metadata=metadata)
    finally:
        engine.dispose()
    out.print(f"Database schema at revision {revision}.")


def register_doctor_command(app: typer.Typer) -> None:
    """Add ``doctor`` and ``migrate`` to the top-level app."""
    app.command()(doctor)
    app.command()(migrate)
