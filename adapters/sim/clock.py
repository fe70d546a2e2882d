"""Time for the simulated estate: a clock protocol, a real clock, a manual clock, and timings.

Every duration in the sim (reboots, patch runs, restores) is measured on an injected
:class:`Clock`, so tests drive time with :class:`ManualClock` and never sleep, while the demo runs
on :class:`SystemClock` with :class:`SimTimings` scaled down to a few real seconds.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from twin import utcnow

__all__ = ["Clock", "ManualClock", "SimTimings", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Where the sim reads the time and how it waits."""

    def now(self) -> datetime:
        """Timezone-aware current time in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a manual clock simply moves forward)."""
        ...


class SystemClock:
    """The wall clock: real time, real sleeps."""

    def now(self) -> datetime:
        """Current UTC time."""
        return utcnow()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    Args:
        start: the initial time; naive datetimes are refused so every timestamp stays UTC.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock start must be timezone-aware (got a naive datetime)")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current manual time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance needs seconds >= 0, got {seconds}")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def sleep(self, seconds: float) -> None:
        """Sleeping on a manual clock advances it, so injected latency is visible but instant."""
        if seconds > 0:
            self.advance(seconds)


class SimTimings(BaseModel):
    """How long things take in the sim, before scaling.

    ``scale`` multiplies every duration: ``0`` makes every job finish at the instant it starts
    (unit tests), ``0.01`` turns a two-minute reboot into about a second (demo).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale: float = Field(default=1.0, ge=0)
    """Multiplier applied to every duration below."""
    queue_seconds: float = Field(default=5.0, ge=0)
    """Delay between accepting a job and starting it."""
    reboot_seconds: float = Field(default=120.0, ge=0)
    """Time a device is down during a reboot."""
    patch_seconds: float = Field(default=300.0, ge=0)
    """Time a patch run takes, whatever the number of patches."""
    script_seconds: float = Field(default=30.0, ge=0)
    """Time an allowlisted script takes."""
    restore_seconds: float = Field(default=600.0, ge=0)
    """Time a restore takes."""
    offline_timeout_seconds: float = Field(default=900.0, ge=0)
    """How long a job waits for an offline device before it fails."""

    def seconds(self, name: str) -> timedelta:
        """The scaled duration of the timing called ``name`` (e.g. ``"reboot"``)."""
        raw = getattr(self, f"{name}_seconds", None)
        if not isinstance(raw, float | int):
            raise ValueError(f"SimTimings has no timing called {name!r}")
        return timedelta(seconds=float(raw) * self.scale)
