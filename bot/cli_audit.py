"""``opshand audit ...``: read and verify the tamper-evident audit log."""

from __future__ import annotations

import typer

from bot.cli_common import DataDir, JsonOut, boot, dump, out

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Read and verify the tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Check the hash chain and the external checkpoint; names the first bad row."""
    oh = boot(data_dir)
    try:
        res = oh.audit.verify()
        if json_out:
            dump(res.model_dump(mode="json"))
        elif res.ok:
            out.print(f"[green]Audit chain verifies[/green]: {res.model_dump(mode='json')}")
        else:
            out.print(f"[red]Audit chain broken[/red]: {res.model_dump(mode='json')}")
        if not res.ok:
            raise typer.Exit(1)
    finally:
        oh.close()
