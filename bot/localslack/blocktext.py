"""Block Kit and Slack mrkdwn as terminal text, for ``opshand chat``.

The output is rich console markup: ``*bold*`` becomes ``[bold]…[/bold]``, mentions become
``@name``, and every bracket that came from a message is escaped so bot text can never inject
console markup. Buttons are returned as data (``Button``) so the caller can number them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

__all__ = ["Button", "Rendered", "mrkdwn_to_markup", "render_blocks"]

Names = Callable[[str], str]
"""Maps a user or channel id to the name to show."""

# The shortcodes an ops bot tends to use (same set as the web page); others stay as :name:.
EMOJI: dict[str, str] = {
    "white_check_mark": "\u2705",
    "heavy_check_mark": "\u2714",
    "x": "\u274c",
    "warning": "\u26a0",
    "rotating_light": "\U0001f6a8",
    "hourglass": "\u231b",
    "hourglass_flowing_sand": "\u23f3",
    "lock": "\U0001f512",
    "no_entry": "\u26d4",
    "red_circle": "\U0001f534",
    "large_green_circle": "\U0001f7e2",
    "large_yellow_circle": "\U0001f7e1",
    "raised_hand": "\u270b",
    "information_source": "\u2139",
    "arrows_counterclockwise": "\U0001f504",
    "mag": "\U0001f50d",
    "no_entry_sign": "\U0001f6ab",
    "leftwards_arrow_with_hook": "\u21a9",
    "small_blue_diamond": "\U0001f539",
}

_LINK = re.compile(r"<([^<>\n]+)>")
_CODE = re.compile(r"`([^`\n]+)`")
_STYLE = {
    "*": ("[bold]", "[/bold]"),
    "_": ("[italic]", "[/italic]"),
    "~": ("[strike]", "[/strike]"),
}
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


@dataclass(frozen=True, kw_only=True)
class Button:
    """A button found in blocks."""

    label: str
    """The button's text."""
    action_id: str
    """Its ``action_id`` (what a click sends)."""
    value: str | None = None
    """Its ``value``, if any."""
    style: str | None = None
    """``primary``, ``danger`` or ``None``."""


@dataclass(kw_only=True)
class Rendered:
    """Blocks as lines of console markup, and the buttons they hold in order."""

    lines: list[str] = field(default_factory=list)
    """Console markup, one entry per line."""
    buttons: list[Button] = field(default_factory=list)
    """Buttons in reading order."""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    """``input`` blocks (in modals), in order."""


def _link(inner: str, names: Names) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + names(target[1:])
    if target.startswith("#"):
        return "#" + (label or names(target[1:]))
    if target.startswith("!subteam^"):
        return "@" + (label or "group")
    if target.startswith("!"):
        return "@" + target[1:]
    if label:
        return f"{label} ({target})"
    return target


def _styled(text: str) -> str:
    """Escape ``text`` for rich, then apply *bold*, _italic_ and ~strike~ spans."""
    out = escape(text)
    for mark, (start, end) in _STYLE.items():
        m = re.escape(mark)
        pattern = re.compile(rf"(^|[\s(]){m}([^{m}\n]+){m}(?=$|[\s).,!?:;])")
        # The spans hold no backslashes, so they are safe as replacement templates.
        out = pattern.sub(rf"\1{start}\2{end}", out)
    return _EMOJI.sub(lambda g: EMOJI.get(g.group(1), g.group(0)), out)


def mrkdwn_to_markup(text: str, names: Names = lambda i: i) -> str:
    """Slack mrkdwn (with Slack's ``&lt;`` escaping) as rich console markup."""
    # Links and code first, as placeholders, so styling never reaches inside them.
    kept: list[str] = []

    def keep(markup: str) -> str:
        kept.append(markup)
        return f"\x00{len(kept) - 1}\x00"

    raw = _LINK.sub(lambda m: keep(f"[cyan]{escape(_link(m.group(1), names))}[/cyan]"), text)
    raw = raw.replace("```", "")
    raw = _CODE.sub(lambda m: keep(f"[magenta]{escape(m.group(1))}[/magenta]"), raw)
    raw = raw.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    out = _styled(raw)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], out)


def _text(obj: dict[str, Any] | None, names: Names) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_markup(str(obj.get("text", "")), names)
    return escape(str(obj.get("text", "")))


def _button(el: dict[str, Any]) -> Button | None:
    if el.get("type") != "button":
        return None
    return Button(
        label=str((el.get("text") or {}).get("text") or "Button"),
        action_id=str(el.get("action_id", "")),
        value=el.get("value"),
        style=el.get("style"),
    )


def render_blocks(blocks: Iterable[dict[str, Any]], names: Names = lambda i: i) -> Rendered:
    """Render a message's, modal's or Home tab's blocks as terminal text.

    Args:
        blocks: Block Kit blocks.
        names: Turns user and channel ids into names for ``<@U…>`` and ``<#C…>``.
    """
    out = Rendered()
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.lines.append(f"[bold underline]{_text(block.get('text'), names)}[/bold underline]")
        elif kind == "section":
            if block.get("text"):
                out.lines.extend(_text(block["text"], names).split("\n"))
            for f in block.get("fields") or []:
                out.lines.append("  " + _text(f, names).replace("\n", " "))
            acc = block.get("accessory")
            button = _button(acc) if isinstance(acc, dict) else None
            if button:
                out.buttons.append(button)
        elif kind == "context":
            parts = [
                _text(e, names) for e in block.get("elements") or [] if e.get("type") != "image"
            ]
            out.lines.append(f"[dim]{'  '.join(parts)}[/dim]")
        elif kind == "divider":
            out.lines.append("[dim]" + "─" * 40 + "[/dim]")
        elif kind == "actions":
            for el in block.get("elements") or []:
                button = _button(el)
                if button:
                    out.buttons.append(button)
        elif kind == "input":
            out.inputs.append(block)
        elif kind == "image":
            out.lines.append(
                f"[dim]{escape('[image: ' + str(block.get('alt_text', '')) + ']')}[/dim]"
            )
        # rich_text and markdown blocks repeat the message text, which the caller shows.
    return out
