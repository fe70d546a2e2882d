"""Reading vendor response headers: ``Retry-After`` (and Okta's reset) and ``Link`` pagination."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["next_link", "parse_retry_after"]


def parse_retry_after(headers: Mapping[str, str], *, now: datetime, cap: float) -> float | None:
    """Seconds to wait as the vendor said, capped; ``None`` when it did not say.

    Understands ``Retry-After`` as delta-seconds or an HTTP date, and Okta-style
    ``X-Rate-Limit-Reset`` (epoch seconds) when ``Retry-After`` is absent.
    """
    raw = headers.get("retry-after")
    seconds: float | None = None
    if raw is not None:
        raw = raw.strip()
        try:
            seconds = float(raw)
        except ValueError:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - now).total_seconds()
    elif (reset := headers.get("x-rate-limit-reset")) is not None:
        try:
            seconds = float(reset) - now.timestamp()
        except ValueError:
            return None
    if seconds is None or math.isnan(seconds):  # NaN never becomes a wait
        return None
    return min(max(seconds, 0.0), cap)


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of RFC 8288 ``Link`` headers, if any.

    Parsed by :attr:`httpx.Response.links`, which splits links only at ``, <`` so a target
    whose query holds commas (``fields=id,status``) stays whole, and joins repeated headers.
    """
    link = headers.get("link")
    if not link:
        return None
    target = httpx.Response(200, headers={"link": link}).links.get("next", {}).get("url")
    return target or None
