"""The ``opshand`` command line: one Typer app, one module per command group."""

from __future__ import annotations

from bot.cli.main import app, main

__all__ = ["app", "main"]
