"""Helpers shared by the ``opshand`` sub-commands: settings, bootstrap with progress, output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.bootstrap import Opshand

__all__ = ["DataDir", "JsonOut", "SettingsFile", "boot", "dump", "err", "out", "settings"]

out = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines keep file:line whole

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder (default ./.opshand, or OPSHAND_DATA_DIR)."),
]
SettingsFile = Annotated[Path | None, typer.Option("--settings", help="Settings file (YAML).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def settings(data_dir: Path | None, settings_file: Path | None = None) -> Settings:
    """Load settings, exiting with a clear message on a bad value."""
    over: dict[str, Any] = {}
    if data_dir is not None:
        over["data_dir"] = data_dir
    try:
        return Settings.load(settings_file, **over)
    except Exception as exc:
        err.print(f"[red]Settings error:[/red] {exc}")
        raise typer.Exit(2) from exc


def boot(data_dir: Path | None, settings_file: Path | None = None, **kw: Any) -> Opshand:
    """Bootstrap opshand, with a progress bar when the twin is seeded for the first time."""
    from agent.chat import ModelUnavailable
    from agent.policy import PolicyError
    from bot.bootstrap import bootstrap

    s = settings(data_dir, settings_file)
    first = not (s.data_dir / "opshand.db").exists() and s.database_url is None
    try:
        if first:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("Loading the sample estate into the twin", total=None)
                return bootstrap(s, progress=lambda n: bar.advance(task, n), **kw)
        return bootstrap(s, **kw)
    except PolicyError as exc:
        err.print(f"[red]Policy error, not starting:[/red] {exc}")
        raise typer.Exit(2) from exc
    except ModelUnavailable as exc:
        # a configuration mistake (package, key, endpoint): one sentence, not a traceback
        err.print(f"[red]Model error, not starting:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def dump(data: Any) -> None:
    """Print JSON."""
    out.print_json(json.dumps(data, default=str))
