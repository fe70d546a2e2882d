"""``opshand digest [--date DAY] [--chart FILE] [--post]``: print, chart or post a day's digest."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import DataDir, SettingsFile, boot, err, out

__all__ = ["blocks_as_text", "mrkdwn_to_plain", "register_digest_command"]


def register_digest_command(app: typer.Typer) -> None:
    """Add ``digest`` to the top-level app."""
    app.command("digest")(digest)


_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>|<([^<>]+)>")
_EMPHASIS = re.compile(r"(?<![\w*_~])([*_~])(?=\S)([^*_~\n]+?)(?<=\S)\1(?![\w*_~])")


def _link(m: re.Match[str]) -> str:
    target, label, bare = m.group(1), m.group(2), m.group(3)
    if bare is not None:
        return bare.removeprefix("!").lstrip("@#")
    return f"{label} ({target})" if label and label != target else target


def mrkdwn_to_plain(text: str) -> str:
    """Slack mrkdwn as plain text: no emphasis marks or fences, links as "label (url)"."""
    text = text.replace("```", "")
    text = _EMPHASIS.sub(r"\2", text)
    text = re.sub(r"`([^`\n]+)`", r"\1", text)
    text = _LINK.sub(_link, text)
    return html.unescape(text)


def blocks_as_text(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as readable plain text for a terminal."""
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
    return mrkdwn_to_plain("\n".join(lines))


def digest(
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="today, yesterday or YYYY-MM-DD (default: today so far; with --post, "
            "yesterday, the last whole day).",
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option("--chart", help="Also write the 14-day chart to this PNG file."),
    ] = None,
    post: Annotated[
        bool, typer.Option("--post", help="Post to the digest channel (once per day).")
    ] = False,
    data_dir: DataDir = None,
    settings_file: SettingsFile = None,
) -> None:
    """Print a day's digest, write its chart, or post both to the managers' channel."""
    from bot.digest import (
        default_day,
        digest_blocks,
        digest_chart,
        digest_config,
        digest_day,
        digest_numbers,
        post_digest,
    )

    if day is not None and day.strip().lower() not in ("today", "yesterday"):
        try:
            date.fromisoformat(day)
        except ValueError:
            err.print(
                f"[red]--date {day!r} is not a date; use today, yesterday or YYYY-MM-DD.[/red]"
            )
            raise typer.Exit(2) from None
    oh = boot(data_dir, settings_file)
    try:
        # Printing and charting default to today, as `/opshand digest` does; posting to the
        # managers' channel defaults to the last whole day, as the daily scheduler does.
        when = digest_day(oh, day or ("yesterday" if post else "today"))
        if chart is not None:
            png, alt = digest_chart(digest_numbers(oh, when))
            try:
                chart.write_bytes(png)
            except OSError as exc:
                err.print(f"[red]Cannot write {chart}:[/red] {exc.strerror or exc}")
                raise typer.Exit(1) from exc
            out.print(f"Wrote {chart} ({len(png):,} bytes). {alt}", markup=False, highlight=False)
        if not post:
            if chart is None:
                _, blocks = digest_blocks(digest_numbers(oh, when), digest_config(oh))
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
