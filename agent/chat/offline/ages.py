"""Times in answers as ages ("5 min ago", "11 months ago"), not ISO stamps.

:func:`compose_answer` sets the turn's clock with :func:`at_time`; renderers call :func:`ago`.
Without a clock (a renderer used on its own) a time reads as a short date.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from agent.humantime import relative, when_text

__all__ = ["ago", "at_time", "when"]

_NOW: ContextVar[datetime | None] = ContextVar("opshand_answer_now", default=None)


@contextmanager
def at_time(now: datetime | None) -> Iterator[None]:
    """Render the answers composed inside at ``now`` (timezone-aware)."""
    token = _NOW.set(now)
    try:
        yield
    finally:
        _NOW.reset(token)


def ago(value: Any) -> str:
    """An ISO time as an age from the turn's clock ("5 min ago", "in 2 days", "now");
    "an unknown time" when missing; the text itself when it is not a time."""
    text = str(value or "").strip()
    if not text:
        return "an unknown time"
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    now = _NOW.get()
    if now is None:
        return f"on {at:%a} {at.day} {at:%b %Y}"
    return relative(at, now=now)


def when(value: Any) -> str:
    """An ISO time ahead or behind as a card says it: "Sat 22:00 UTC, in 2 days"."""
    text = str(value or "").strip()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text or "an unknown time"
    now = _NOW.get()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return when_text(at, now=now) if now is not None else ago(text)
