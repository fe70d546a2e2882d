"""Tables that fit Slack: at most three narrow columns, a count line that matches, lists otherwise.

Slack has no table block, and a code block wider than a phone's screen wraps into noise, so a
table here has at most :data:`MAX_COLUMNS` columns, each cut to a width, and at most
:data:`MAX_ROWS` rows. Every table and list that shows part of something says how much: "showing
20 of 262". Breakdowns (by kind, by criticality) are section fields, one field per breakdown, so
Slack puts kinds and criticality side by side in separate columns instead of interleaving them.
Cells are estate data: escaped (Slack parses ``<…>`` even inside code blocks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.mrkdwn import esc

__all__ = [
    "CRIT_ORDER",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "breakdown_fields",
    "count_line",
    "entity_table",
    "fixed_table",
    "list_block",
]

Block = dict[str, Any]
MAX_COLUMNS = 3
"""Columns a table may have: more wrap on a phone."""
MAX_ROWS = 20
"""Rows a table or list shows; the count line says how many there are."""
FIRST_WIDTH = 32
"""Characters of the first (name) column; longer names are cut with "…"."""
OTHER_WIDTH = 12
"""Characters of every other column."""
CRIT_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_BREAKDOWN_LINES = 6


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def count_line(shown: int, total: int, noun: str = "") -> str:
    """ "showing 20 of 262 hosts", or "all 12 hosts shown" when nothing is left out."""
    tail = f" {noun}" if noun else ""
    if shown >= total:
        return f"all {total}{tail} shown" if total != 1 else f"1{tail} shown"
    return f"showing {shown} of {total}{tail}"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def fixed_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    total: int | None = None,
    noun: str = "",
) -> list[Block]:
    """A code-block table of at most three narrow columns, then its count line.

    Args:
        title: shown in bold above the table (escaped).
        headers: the column names, at most :data:`MAX_COLUMNS`.
        rows: the cells, as plain text (escaped here); rows past :data:`MAX_ROWS` are left out.
        total: how many rows there are in all (default: ``len(rows)``), when ``rows`` is a page.
        noun: what a row is ("entities"), for the count line.

    Raises:
        ValueError: for more than :data:`MAX_COLUMNS` columns (a programming error).
    """
    if len(headers) > MAX_COLUMNS:
        raise ValueError(f"a Slack table has at most {MAX_COLUMNS} columns, not {len(headers)}")
    widths = [FIRST_WIDTH if c == 0 else OTHER_WIDTH for c in range(len(headers))]
    shown = [
        [_fit(str(r[c]) if c < len(r) else "", widths[c]) for c in range(len(headers))]
        for r in rows[:MAX_ROWS]
    ]
    cells = [[_fit(h, widths[c]) for c, h in enumerate(headers)], *shown]
    cols = [max(len(r[c]) for r in cells) for c in range(len(headers))]
    lines = ["  ".join(esc(v.ljust(cols[c])) for c, v in enumerate(r)).rstrip() for r in cells]
    count = count_line(len(shown), len(rows) if total is None else max(total, len(shown)), noun)
    return [_section(f"*{esc(title)}*\n```" + "\n".join(lines) + "```"), _context(count)]


def entity_table(
    items: Sequence[Mapping[str, Any]],
    *,
    title: str,
    total: int | None = None,
    closest: bool = False,
) -> list[Block]:
    """Entities as name, kind and criticality (each in its own column), with a count line.

    ``closest`` marks a fuzzy search cut at its limit: the rows are the closest names, and the
    count line says so instead of "all 20 shown".
    """
    rows = [
        (
            str(i.get("name", i.get("id", ""))),
            str(i.get("kind", "") or "-"),
            str(i.get("criticality", "-") or "-"),
        )
        for i in items
    ]
    blocks = fixed_table(title, ("name", "kind", "criticality"), rows, total=total, noun="entities")
    if closest:
        shown = min(len(rows), MAX_ROWS)
        blocks[-1] = _context(f"the {shown} closest names; more are alike (narrow the search)")
    return blocks


def _breakdown(title: str, counts: Sequence[tuple[str, Any]]) -> Block:
    lines = [f"{esc(k)}: {esc(n)}" for k, n in counts[:_BREAKDOWN_LINES]]
    if len(counts) > _BREAKDOWN_LINES:
        lines.append(f"and {len(counts) - _BREAKDOWN_LINES} more")
    return {"type": "mrkdwn", "text": f"*{esc(title)}*\n" + ("\n".join(lines) or "none")}


def breakdown_fields(by_kind: Mapping[str, int], by_crit: Mapping[str, int]) -> Block:
    """Counts by kind and by criticality as two section fields: two columns side by side."""
    kinds = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    crits = sorted(by_crit.items(), key=lambda kv: CRIT_ORDER.get(kv[0], 9))
    fields = [_breakdown("By kind", kinds), _breakdown("By criticality", crits)]
    return {"type": "section", "fields": fields}


def list_block(
    title: str, lines: Sequence[str], *, total: int | None = None, noun: str = ""
) -> list[Block]:
    """Bullets (already escaped mrkdwn) under a bold title, then a count line when cut."""
    shown = list(lines[:MAX_ROWS])
    all_ = len(lines) if total is None else max(total, len(shown))
    blocks = [_section(f"*{esc(title)}*\n" + "\n".join(f"• {line}" for line in shown))]
    if all_ > len(shown):
        blocks.append(_context(count_line(len(shown), all_, noun)))
    return blocks
