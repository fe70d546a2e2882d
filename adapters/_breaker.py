"""The per-integration circuit breaker: closed, open, half-open with one probe at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from adapters.errors import CircuitOpen

__all__ = ["BreakerState", "CircuitBreaker"]

_log = logging.getLogger("opshand.adapters.http")

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed / open / half-open breaker for one integration.

    Only failures that say the integration is unwell (transient errors, ambiguous timeouts) count;
    a 404 or a 401 is a healthy integration giving a clear answer.
    """

    def __init__(
        self,
        integration: str,
        *,
        failure_threshold: int = 5,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.integration = integration
        self._threshold = failure_threshold
        self._cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state: BreakerState = "closed"
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state, moving open -> half-open once the cool-down has passed."""
        with self._lock:
            return self._current()

    @property
    def failures(self) -> int:
        """Failures counted since the last healthy answer."""
        with self._lock:
            return self._failures

    def _current(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self._cool_down:
            self._state = "half_open"
            self._probe_in_flight = False
        return self._state

    def before_call(self, call: str) -> None:
        """Raise :class:`CircuitOpen` unless a request may be sent now."""
        with self._lock:
            state = self._current()
            if state == "closed":
                return
            if state == "half_open" and not self._probe_in_flight:
                # One trial request at a time decides whether the integration is back.
                self._probe_in_flight = True
                return
            remaining = max(0.0, self._cool_down - (self._clock() - self._opened_at))
        raise CircuitOpen(
            f"circuit open after repeated failures; retry in {remaining:.0f}s",
            integration=self.integration,
            call=call,
        )

    def record_success(self) -> None:
        """A healthy answer closes the circuit and clears the failure count."""
        with self._lock:
            self._failures = 0
            self._state = "closed"
            self._probe_in_flight = False

    def record_failure(self) -> None:
        """Count a failure; open the circuit at the threshold or when a probe fails."""
        with self._lock:
            self._failures += 1
            if self._state == "half_open" or self._failures >= self._threshold:
                if self._state != "open":
                    _log.warning("circuit opened for %s", self.integration)
                self._state = "open"
                self._opened_at = self._clock()
                self._probe_in_flight = False
