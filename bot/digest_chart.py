"""The digest's chart: changes per day by outcome over the last 14 days, as a PNG.

Rendered with matplotlib's object API (``Figure`` and the Agg canvas, never ``pyplot``), so it
keeps no global state and is safe from the scheduler's thread. The alt text says in words what
the picture shows, for screen readers and for clients that do not load images.
"""

from __future__ import annotations

import io
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["chart_alt_text", "render_chart", "week_over_week"]

_OK = "#2eb67d"  # Slack's green
_FAILED = "#e01e5a"  # Slack's red


def week_over_week(history: list[tuple[date, int, int]]) -> tuple[int, int]:
    """Changes run in the last 7 days and in the 7 days before (``history`` is oldest first)."""
    this_week = sum(ran for _, ran, _ in history[-7:])
    last_week = sum(ran for _, ran, _ in history[-14:-7])
    return this_week, last_week


def _trend(this_week: int, last_week: int) -> str:
    if last_week == 0:
        return f"{this_week} this week, none the week before"
    change = (this_week - last_week) / last_week * 100
    direction = "up" if change > 0 else "down" if change < 0 else "level"
    return f"{this_week} this week, {last_week} the week before ({direction} {abs(change):.0f}%)"


def chart_alt_text(history: list[tuple[date, int, int]]) -> str:
    """What the chart shows, in one sentence or two."""
    if not history:
        return "No changes in the period."
    ran = sum(r for _, r, _ in history)
    failed = sum(f for _, _, f in history)
    busiest = max(history, key=lambda h: h[1])
    first, last = history[0][0], history[-1][0]
    return (
        f"Changes per day from {first:%d %b} to {last:%d %b}: {ran} run, {failed} failed; "
        f"busiest day {busiest[0]:%a %d %b} with {busiest[1]}. "
        f"{_trend(*week_over_week(history))}."
    )


def render_chart(history: list[tuple[date, int, int]], *, title: str) -> bytes:
    """A stacked bar chart (succeeded, failed) per day as PNG bytes."""
    fig = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [f"{d:%d %b}" for d, _, _ in history]
    failed = [f for _, _, f in history]
    # "ran" counts approvals that went ahead; a failure is one of them when it ran, but the
    # digest counts failures separately, so the green part never goes below zero.
    ok = [max(0, r - f) for _, r, f in history]
    xs = list(range(len(history)))
    ax.bar(xs, ok, color=_OK, label="succeeded")
    ax.bar(xs, failed, bottom=ok, color=_FAILED, label="failed")
    ax.set_xticks(xs, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("changes")
    ax.set_title(f"{title} — {_trend(*week_over_week(history))}", fontsize=10)
    if len(history) > 7:
        ax.axvline(len(history) - 7.5, color="#888888", linestyle=":", linewidth=1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
