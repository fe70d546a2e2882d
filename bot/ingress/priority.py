"""Acknowledgements first: other work in the process holds back while Slack waits for an ack.

The Bolt app, the agent and the executor share one interpreter, and so one GIL, with the code
that acknowledges Slack. Measured under 50 concurrent mentions (``bench/bot.py``), most of an
ack's time was not the database write but waiting for the GIL, which the listener threads
answering earlier mentions held in 5 ms turns, and waiting for SQLite's write lock, which those
threads' own transactions held. An ack is a little work on the event loop plus a share of one
group commit; agent turns are long and nobody waits on them by the millisecond.

:class:`AckFirst` counts the acknowledgements in flight. Threads that are not on the ack path
call :meth:`AckFirst.yield_to_acks` at natural pauses (before taking a database connection,
before dispatching an event to Bolt): while acks are in flight they wait, without the GIL and
without holding a transaction, until the last ack is answered or ``max_hold`` has passed. The
wait is bounded, so a steady stream of acks slows the other work but never stops it.

Between those pauses a listener thread runs Python, and holds the GIL, in turns of the
interpreter's switch interval (5 ms by default). The event loop and the inbox writer give the GIL
up at every socket and SQLite call, and each time they want it back they wait for the running
thread's turn to end; an ack makes several such calls, so under busy listeners those waits were
most of its tail. While acks are in flight the switch interval is lowered to
:data:`ACK_SWITCH_INTERVAL` for the whole process (:class:`FastSwitching`), and restored when the
last one is answered, so the ack path gets the GIL back within a fraction of a millisecond.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

__all__ = [
    "ACK_SWITCH_INTERVAL",
    "MAX_HOLD",
    "SWITCHING",
    "AckFirst",
    "FastSwitching",
]

MAX_HOLD = 0.05
"""Longest a thread waits for the acks in flight, in seconds, each time it yields to them."""
ACK_SWITCH_INTERVAL = 0.0005
"""The interpreter's thread switch interval while acks are in flight, in seconds. Measured with
stamps on each ack in ``bench/bot.py`` (machine under load): the server's own p99 per ack, from
the request reaching the app to its answer, roughly halved against the default 5 ms."""


class FastSwitching:
    """Lowers the process's thread switch interval while any holder wants it (reference counted).

    ``sys.setswitchinterval`` is one setting for the whole process, so every
    :class:`AckFirst` shares :data:`SWITCHING`: the interval is lowered when the first holder
    enters and the previous value comes back when the last one leaves, however their turns
    overlap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved = 0.0

    @property
    def holders(self) -> int:
        """How many holders want fast switching now."""
        return self._holders

    def enter(self, interval: float) -> None:
        """Switch at most every ``interval`` seconds until the matching :meth:`leave`."""
        with self._lock:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(interval, self._saved))
            self._holders += 1

    def leave(self) -> None:
        """One holder is done; the last one restores the interval found by the first."""
        with self._lock:
            if self._holders == 0:
                return
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


SWITCHING = FastSwitching()
"""The process's one switch-interval holder count."""


class AckFirst:
    """Acknowledgements in flight, and a gate other threads wait at while there are any."""

    def __init__(
        self,
        *,
        max_hold: float = MAX_HOLD,
        switch_interval: float | None = ACK_SWITCH_INTERVAL,
    ) -> None:
        """Args:
        max_hold: Longest a call to :meth:`yield_to_acks` waits, in seconds.
        switch_interval: The process's thread switch interval while acks are in flight;
            None leaves it alone.
        """
        self.max_hold = max_hold
        self.switch_interval = switch_interval
        self._inflight = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._local = threading.local()
        self.waits = 0
        """How many times a thread waited (tests, metrics)."""

    @property
    def inflight(self) -> int:
        """Acknowledgements not answered yet."""
        return self._inflight

    def begin(self) -> None:
        """An acknowledgement started (call :meth:`end` exactly once after)."""
        with self._lock:
            self._inflight += 1
            if self._inflight == 1:
                self._idle.clear()
                if self.switch_interval is not None:
                    SWITCHING.enter(self.switch_interval)

    def end(self) -> None:
        """An acknowledgement was answered."""
        with self._lock:
            if self._inflight == 0:
                return
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()
                if self.switch_interval is not None:
                    SWITCHING.leave()

    @contextmanager
    def acking(self) -> Iterator[None]:
        """``begin()`` … ``end()`` around one acknowledgement."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    def mark_ack_path(self) -> None:
        """The calling thread works for acknowledgements (the inbox writer): it never waits."""
        self._local.ack_path = True

    def yield_to_acks(self) -> bool:
        """Wait while acknowledgements are in flight, at most ``max_hold``.

        Returns:
            True when this call waited.
        """
        if self._idle.is_set() or getattr(self._local, "ack_path", False):
            return False
        self.waits += 1
        self._idle.wait(self.max_hold)
        return True

    def install(self, engine: Engine) -> None:
        """Make every connection checkout from ``engine`` yield to acks first.

        A checkout comes before its transaction begins, so a waiting thread holds no lock the
        inbox writer needs.
        """
        if not event.contains(engine, "checkout", self._on_checkout):
            event.listen(engine, "checkout", self._on_checkout)

    def _on_checkout(self, _dbapi: Any, _record: Any, _proxy: Any) -> None:
        self.yield_to_acks()
