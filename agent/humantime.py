"""Times and ages as people say them: "Sat 22:00 EST, in 2 days", "expires in 3 h",
"decided 5 min ago", "11 months old".

One place for the words so cards, threads and answers agree. Every function takes ``now``
(timezone-aware): nothing here reads the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["age_text", "expires_text", "relative", "span", "when_text"]

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_MONTH = 30.44 * _DAY
_YEAR = 365.25 * _DAY


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def span(delta: timedelta) -> str:
    """A length of time, rounded to one unit: "5 min", "3 h", "2 days", "11 months", "2 years".

    Hours stay hours up to a day and a half ("30 h" reads better than "1 day" for a deadline);
    days stay days up to six weeks, then months up to a year and a half.
    """
    secs = abs(delta.total_seconds())
    if secs < _HOUR:
        return f"{max(1, round(secs / _MINUTE))} min"
    if secs < 36 * _HOUR:
        return f"{round(secs / _HOUR)} h"
    if secs < 45 * _DAY:
        return _plural(round(secs / _DAY), "day")
    if secs < 548 * _DAY:
        return _plural(round(secs / _MONTH), "month")
    return _plural(round(secs / _YEAR), "year")


def relative(at: datetime, *, now: datetime) -> str:
    """``at`` from ``now``: "now" within a minute, "in 3 h" ahead, "5 min ago" behind."""
    secs = (at - now).total_seconds()
    if abs(secs) < _MINUTE:
        return "now"
    return f"in {span(at - now)}" if secs > 0 else f"{span(at - now)} ago"


def when_text(at: datetime, *, now: datetime, tz: str = "UTC") -> str:
    """A time as a card shows it to one reader: "Sat 22:00 EST, in 2 days", or past,
    "Thu 15:40 UTC, 5 min ago"; the date is added a week or more away ("Sat 12 Dec 22:00 ...")."""
    return f"{_clock(at, now, tz)}, {relative(at, now=now)}"


def expires_text(at: datetime, *, now: datetime) -> str:
    """A deadline: "expires in 3 h", or "expired 2 h ago" once past."""
    if at <= now:
        return f"expired {relative(at, now=now)}".replace("expired now", "expired just now")
    return f"expires {relative(at, now=now)}".replace("expires now", "expires in 1 min")


def age_text(delta: timedelta) -> str:
    """How old something is: "11 months old", "3 days old", "new" under a minute."""
    if delta.total_seconds() < _MINUTE:
        return "new"
    return f"{span(delta)} old"


def _clock(at: datetime, now: datetime, tz: str) -> str:
    """Weekday and time in ``tz``; with the date when ``at`` is a week or more from ``now``."""
    local = at.astimezone(ZoneInfo(tz))
    far = abs((at - now).total_seconds()) >= 6.5 * _DAY
    day = f"{local:%a} {local.day} {local:%b}" if far else f"{local:%a}"
    return f"{day} {local:%H:%M} {local.tzname()}"
