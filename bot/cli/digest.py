"""``opshand digest --date YYYY-MM-DD [--post]``: print or post any day's digest."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from bot.cli.common import DataDir, SettingsFile, boot, err, out

__all__ = ["blocks_as_text", "register_digest_command"]


def register_digest_command(app: typer.Typer) -> None:
    """Add ``digest`` to the top-level app."""
    app.command("digest")(digest)


def blocks_as_text(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as readable text for a terminal."""
    lines: list[str] = []
    for b in blocks:
        t = b.get("text")
        if isinstance(t, dict):
            lines.append(str(t.get("text", "")))
        for el in b.get("elements") or []:
            if isinstance(el, dict) and isinstance(el.get("text"), str):
                lines.append(el["text"])
        for f in b.get("fields") or []:
            lines.append(str(f.get("text", "")))
    return "\n".join(lines)


def digest(
    day: Annotated[
        str | None,
        typer.Option("--date", help="The day, YYYY-MM-DD (default: yesterday)."),
    ] = None,
    post: Annotated[
        bool, typer.Option("--post", help="Post to the digest channel (once per day).")
    ] = False,
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
) -> None:
    """Print a day's digest, or post it to the managers' channel."""
    from bot.digest import default_day, digest_for, post_digest

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        err.print(f"[red]--date {day!r} is not a date; use YYYY-MM-DD.[/red]")
        raise typer.Exit(2) from None
    oh = boot(data_dir, settings_file)
    try:
        if not post:
            _, blocks = digest_for(oh, when)
            out.print(blocks_as_text(blocks), markup=False, highlight=False)
            return
        from slack_sdk import WebClient

        s = oh.settings.slack
        client = WebClient(
            token=s.bot_token.get_secret_value(), base_url=s.api_url or WebClient.BASE_URL
        )
        target = when or default_day(oh)
        ts = post_digest(oh, client, target)
        if ts is None:
            out.print(f"The digest for {target} was already posted; nothing sent.")
        else:
            out.print(f"Posted the digest for {target} (ts {ts}).")
    finally:
        oh.close()
