"""``opshand audit ...``: read, export and verify the tamper-evident audit log."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import DataDir, JsonOut, boot, dump, err, out

__all__ = ["audit_app", "parse_since"]

audit_app = typer.Typer(
    help="Read, export and verify the tamper-evident audit log.", no_args_is_help=True
)

Since = Annotated[
    str | None,
    typer.Option("--since", help="Only rows at or after this time (ISO 8601, UTC if no zone)."),
]


def parse_since(value: str | None) -> datetime | None:
    """``2026-11-27``, ``2026-11-27T10:00``, ``...Z`` or with an offset -> aware UTC datetime.

    Raises:
        typer.BadParameter: the text is not an ISO 8601 date or time.
    """
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"'{value}' is not an ISO 8601 time (e.g. 2026-11-27T10:00Z)", param_hint="--since"
        ) from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _change_id(ref: str | None) -> str | None:
    if ref is None:
        return None
    from agent.execution import parse_ref

    try:
        return str(parse_ref(ref))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--change") from exc


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


def _summary(body: dict[str, Any]) -> str:
    """One short line from a row's body: the fields people look for first."""
    keys = ("target", "outcome", "reason", "detail", "capability", "waited", "state", "worker")
    parts = [f"{k}={body[k]}" for k in keys if k in body and body[k] not in ("", None, [])]
    text = " ".join(str(p) for p in parts) or json.dumps(body, default=str)[:120]
    return text if len(text) <= 140 else text[:139] + "…"


@audit_app.command("show")
def audit_show(
    change: Annotated[
        str | None, typer.Option("--change", help="Only rows about this change (CR-42).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Exact kind, or a prefix like 'integration.*'."),
    ] = None,
    since: Since = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Show audit rows, oldest first, filtered by change, kind and time."""
    change_id = _change_id(change)
    at = parse_since(since)
    oh = boot(data_dir)
    try:
        rows = oh.audit.query(change_id=change_id, kind=kind, since=at, limit=limit)
    finally:
        oh.close()
    if json_out:
        dump([r.to_json() for r in rows])
        return
    if not rows:
        out.print("No audit rows match.")
        return
    from rich.table import Table

    table = Table("seq", "at (UTC)", "kind", "actor", "change", "what")
    for r in rows:
        table.add_row(
            str(r.seq),
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            r.kind,
            r.actor,
            f"CR-{r.change_id}" if r.change_id else "",
            _summary(r.body),
        )
    out.print(table)


@audit_app.command("export")
def audit_export(
    since: Since = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export rows as JSON lines (hashes included, so a SIEM can re-verify the chain)."""
    at = parse_since(since)
    oh = boot(data_dir)
    try:
        if output is None:
            n = oh.audit.export_jsonl(sys.stdout, at)
        else:
            with output.open("w", encoding="utf-8") as fp:
                n = oh.audit.export_jsonl(fp, at)
    finally:
        oh.close()
    err.print(f"exported {n} audit row(s)")
