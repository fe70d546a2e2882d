"""Each reader's time zone, from Slack's ``users.info`` (``user.tz``), cached per user.

Times shown to one person (their thread, an ephemeral reply, ``/opshand pending``) are in that
person's Slack zone; channel posts many people read use the configured default
(``slack.display_timezone``) and name it. A failed lookup, or a zone Python does not know,
falls back to the default rather than failing the message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

__all__ = ["TZ_TTL_SECONDS", "UserZones", "valid_zone"]

log = logging.getLogger(__name__)

TZ_TTL_SECONDS = 3600.0
"""How long a user's zone is kept before ``users.info`` is asked again (people travel)."""


def valid_zone(tz: object) -> str | None:
    """``tz`` if it names an IANA zone this host knows, else ``None``."""
    if not isinstance(tz, str) or not tz:
        return None
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return tz


class UserZones:
    """Per-user time zones read from ``users.info`` and kept ``ttl`` seconds.

    Args:
        client: The Web API client.
        default: The zone used when Slack does not say (or cannot be asked).
        ttl: Seconds a looked-up zone is kept; a failed lookup is kept a tenth of that, so a
            Slack outage does not turn every message into a lookup.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        client: WebClient,
        default: str = "UTC",
        *,
        ttl: float = TZ_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.default = valid_zone(default) or "UTC"
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    def of(self, user_id: str) -> str:
        """``user_id``'s IANA zone (the default when unknown)."""
        if not user_id:
            return self.default
        now = self._clock()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        tz, keep = self._lookup(user_id)
        with self._lock:
            self._cache[user_id] = (tz, now + keep)
        return tz

    def _lookup(self, user_id: str) -> tuple[str, float]:
        try:
            resp = self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.info(
                "users.info %s failed (%s); default zone used", user_id, exc.response.get("error")
            )
            return self.default, self.ttl / 10
        except Exception:
            log.warning("users.info %s failed; default zone used", user_id, exc_info=True)
            return self.default, self.ttl / 10
        user = resp.get("user") or {}
        return valid_zone(user.get("tz")) or self.default, self.ttl
