"""The digest's chart: changes per day by outcome over the last 14 days, as a PNG.

One stacked bar a day, one colour an outcome (auto, consented, denied, rejected, expired, failed,
rolled back), a dotted line between the week before and this week, and the week-over-week change
in the title. Rendered with matplotlib's object API (``Figure`` and the Agg canvas, never
``pyplot``), so it keeps no global state and is safe from the scheduler's thread. The alt text
says in words what the picture shows, for screen readers and for clients that do not load images.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["OUTCOME_COLOURS", "DayOutcomes", "chart_alt_text", "render_chart", "week_over_week"]

DayOutcomes = tuple[date, Mapping[str, int]]
"""One day of the chart: the day and how many changes ended in each outcome."""
OUTCOME_COLOURS: dict[str, str] = {
    "auto": "#2eb67d",  # Slack's green
    "consented": "#36c5f0",  # Slack's blue
    "denied": "#ecb22e",  # Slack's yellow
    "rejected": "#9b6a2f",
    "expired": "#a0a0a8",
    "failed": "#e01e5a",  # Slack's red
    "rolled back": "#4a154b",  # Slack's aubergine
}
"""Outcomes in stacking order (bottom first), each with its colour."""


def _total(counts: Mapping[str, int]) -> int:
    return sum(counts.values())


def week_over_week(days: Sequence[DayOutcomes]) -> tuple[int, int]:
    """Outcomes in the last 7 days and in the 7 days before (``days`` is oldest first)."""
    this_week = sum(_total(c) for _, c in days[-7:])
    last_week = sum(_total(c) for _, c in days[-14:-7])
    return this_week, last_week


def _trend(this_week: int, last_week: int) -> str:
    if last_week == 0:
        return f"{this_week} this week, none the week before"
    change = (this_week - last_week) / last_week * 100
    direction = "up" if change > 0 else "down" if change < 0 else "level"
    return f"{this_week} this week, {last_week} the week before ({direction} {abs(change):.0f}%)"


def _outcomes(days: Sequence[DayOutcomes]) -> list[str]:
    """The outcomes seen, in stacking order; any unknown name goes last."""
    seen = {k for _, c in days for k, n in c.items() if n}
    known = [k for k in OUTCOME_COLOURS if k in seen]
    return known + sorted(seen - set(OUTCOME_COLOURS))


def chart_alt_text(days: Sequence[DayOutcomes]) -> str:
    """What the chart shows, in one sentence or two."""
    if not days:
        return "No changes in the period."
    totals = {k: sum(c.get(k, 0) for _, c in days) for k in _outcomes(days)}
    parts = ", ".join(f"{n} {k}" for k, n in totals.items()) or "none"
    busiest = max(days, key=lambda d: _total(d[1]))
    first, last = days[0][0], days[-1][0]
    return (
        f"Changes per day by outcome from {first:%d %b} to {last:%d %b}: "
        f"{sum(totals.values())} in all ({parts}); "
        f"busiest day {busiest[0]:%a %d %b} with {_total(busiest[1])}. "
        f"{_trend(*week_over_week(days))}."
    )


def render_chart(days: Sequence[DayOutcomes], *, title: str) -> bytes:
    """A bar a day, stacked by outcome, as PNG bytes (800x300)."""
    fig = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(days)))
    bottom = [0] * len(days)
    for outcome in _outcomes(days):
        heights = [c.get(outcome, 0) for _, c in days]
        colour = OUTCOME_COLOURS.get(outcome, "#616061")
        ax.bar(xs, heights, bottom=bottom, color=colour, label=outcome)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(xs, [f"{d:%d %b}" for d, _ in days], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("changes")
    ax.set_title(f"{title} — {_trend(*week_over_week(days))}", fontsize=10)
    if len(days) > 7:
        ax.axvline(len(days) - 7.5, color="#888888", linestyle=":", linewidth=1)
    if any(bottom):
        ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=4)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
