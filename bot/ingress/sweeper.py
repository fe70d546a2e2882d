"""The thread that runs :meth:`bot.ingress.inbox.Inbox.sweep` on every replica.

Its first pass runs at start-up, so what a replica that died before this one started left
behind is replayed at once; then one pass every ``interval`` seconds renews this replica's
leases, prunes old rows, and replays or dead-letters events whose lease ran out.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.ingress.inbox import Inbox

__all__ = ["InboxSweeper"]

log = logging.getLogger(__name__)


class InboxSweeper:
    """Runs :meth:`Inbox.sweep` at start-up and then every ``interval`` seconds, in a thread."""

    def __init__(self, inbox: Inbox, *, interval: float) -> None:
        """Prepare; nothing runs until :meth:`start`.

        Args:
            inbox: The inbox to sweep.
            interval: Seconds between passes; keep it well under the lease, because the same
                pass renews the leases of events still being worked on.
        """
        if interval <= 0:
            raise ValueError("interval must be positive")
        if interval >= inbox.lease.total_seconds():
            log.warning(
                "inbox sweep interval %.0fs is not shorter than the lease %.0fs: slow listeners "
                "may be replayed while still running",
                interval,
                inbox.lease.total_seconds(),
            )
        self.inbox = inbox
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One pass; a failure (database down) is logged and the next pass tries again."""
        try:
            return self.inbox.sweep()
        except Exception:
            log.warning("inbox sweep failed; trying again in %.0fs", self.interval, exc_info=True)
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        """Start the thread (its first pass runs at once)."""
        if self._thread is not None:
            raise RuntimeError("InboxSweeper is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="slack-inbox-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._thread = None
