"""When a request asks to run: "tonight", "at 02:00", "after 18:00 Friday", "in the next
maintenance window", "now", resolved to a time in the requester's zone (RELIABILITY G4).

:func:`parse_when` is deterministic and needs no model: it finds the time phrase in a request
and returns a :class:`When` (``not_before`` in UTC, or ``window=True`` for "the next maintenance
window", whose time depends on the target's client and is resolved by the planner).
:func:`when_text` is what a card shows: "Sat 22:00 EST, in 2 days".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.humantime import when_text

__all__ = [
    "TONIGHT",
    "WHEN_ASK_KEY",
    "When",
    "WhenError",
    "answers_when",
    "parse_when",
    "when_text",
]

WHEN_ASK_KEY = "opshand_when_ask"
"""Memory key of a turn that asked "now or in the next window?" (the call to repeat)."""

TONIGHT = time(22, 0)
"""What "tonight" means when nothing more precise is said."""
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = r"(?P<day>mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs(?:day)?)?|fri(?:day)?|" \
       r"sat(?:urday)?|sun(?:day)?|tomorrow|today)"  # fmt: skip
_CLOCK = r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?:\s*(?P<ampm>am|pm))?"
_AT = re.compile(rf"\b(?P<kw>at|after|from)\s+{_CLOCK}(?:\s+(?:on\s+)?{_DAY})?\b", re.I)
_DAY_AT = re.compile(rf"\b(?:on\s+)?{_DAY}\s+(?:at|after|from)\s+{_CLOCK}\b", re.I)
_WINDOW = re.compile(r"\b(?:(?:next|the|its|their)\s+)?(?:maintenance|change|patch)\s+window\b",
                     re.I)  # fmt: skip
_TONIGHT = re.compile(r"\b(?:tonight|this evening|overnight|after hours|out of hours)\b", re.I)
_NOW = re.compile(r"\b(?:now|right away|immediately|asap)\b", re.I)


class WhenError(ValueError):
    """A time phrase that names no real time ("at 25:00")."""


@dataclass(frozen=True)
class When:
    """When to run: ``not_before`` (UTC), the next maintenance window, or as soon as approved."""

    not_before: datetime | None = None
    window: bool = False
    phrase: str = ""
    """The words it came from, for the card ("tonight")."""

    @property
    def now(self) -> bool:
        """Nothing said (or "now"): run once approved."""
        return self.not_before is None and not self.window


def _clock(h: str, m: str | None, ampm: str | None) -> time:
    hour, minute = int(h), int(m or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise WhenError(f"{h}{ampm} is not a time of day")
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise WhenError(f"{h}:{m or '00'} is not a time of day (use 00:00 to 23:59)")
    return time(hour, minute)


def _on_or_after(local: datetime, at: time, day: str | None) -> datetime:
    """The first ``at`` (on ``day`` if named) that is not in the past."""
    base = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if day is None:
        return base if base >= local else base + timedelta(days=1)
    d = day.lower()
    if d == "today":
        return base
    if d == "tomorrow":
        return base + timedelta(days=1)
    want = next(i for i, name in enumerate(_DAYS) if name.startswith(d[:3]))
    ahead = (want - local.weekday()) % 7
    out = base + timedelta(days=ahead)
    return out if out >= local else out + timedelta(days=7)


def parse_when(text: str, *, now: datetime, tz: str = "UTC") -> When:
    """The time a request asks for, read in the requester's zone ``tz``.

    Raises:
        WhenError: A time of day that does not exist, or an unknown zone.
    """
    if now.tzinfo is None:
        raise WhenError("now must be timezone-aware")
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise WhenError(f"unknown time zone {tz!r}") from exc
    local = now.astimezone(zone)
    m = _DAY_AT.search(text) or _AT.search(text)
    if m is not None:
        at = _clock(m.group("h"), m.group("m"), m.group("ampm"))
        start = _on_or_after(local, at, m.group("day"))
        return When(start.astimezone(UTC), phrase=m.group(0).strip())
    if (w := _WINDOW.search(text)) is not None:
        return When(window=True, phrase=w.group(0))
    if (t := _TONIGHT.search(text)) is not None:
        tonight = local.replace(hour=TONIGHT.hour, minute=0, second=0, microsecond=0)
        # late at night "tonight" means now; after midnight it still means the night ahead
        start = max(tonight, local) if local.hour >= 4 else local
        return When(start.astimezone(UTC), phrase=t.group(0))
    return When(phrase=n.group(0) if (n := _NOW.search(text)) else "")


_BARE_WINDOW = re.compile(r"\b(?:(?:the|next|its|their)\s+)+window\b", re.I)
_FILLER = re.compile(
    r"\b(?:ok(?:ay)?|yes|yeah|yep|sure|please|pls|thanks|thank\s+you|then|let'?s|do\s+it|"
    r"run\s+it|go(?:\s+ahead)?|make\s+it|in|it|during|wait\s+for|for)\b|[\s,.!;:\-—]+",
    re.I,
)


def answers_when(text: str) -> str | None:
    """``text`` as an answer to "now or in the next window?": the request to read its time
    from ("now", "in the next maintenance window", "tonight"), or ``None`` when the message
    says more than a time (then it is a new request, not the answer)."""
    said = _BARE_WINDOW.sub("next maintenance window", text.strip())
    m = _AT.search(said) or _DAY_AT.search(said)
    for rx in (_WINDOW, _TONIGHT, _NOW):
        m = m or rx.search(said)
    if m is None or _FILLER.sub("", said[: m.start()] + said[m.end() :]):
        return None
    return said
