"""A durable inbox for Slack events: stored before they are acknowledged.

Slack does not resend an event it got an acknowledgement for, so an event acknowledged by a
replica that then dies would be lost. Each ``event_callback`` is therefore inserted into
``slack_inbox`` *before* Slack hears back: ``bot.ingress.http`` answers 200 after the insert (HTTP
mode), ``bot.ingress.socket_mode`` acks the envelope after it (Socket Mode). The row is the event's
durable copy and its lease. The insert is also the de-duplication step (the event id is the
primary key), so a Slack retry, or the same event delivered to another replica, is
acknowledged and dropped. Events arriving together are inserted together (group commit), so a
burst takes the write lock once, not once per event. When Bolt's listener for the event
finishes, the row is marked ``done``; when it raises, the error is recorded and the row stays
``pending`` until its lease lapses.

Every replica runs an :class:`~bot.ingress.sweeper.InboxSweeper`. Each pass renews the leases of
the events this replica is still working on, claims ``pending`` rows whose lease ran out (their
holder died, or the listener failed) and dispatches the stored body through Bolt again,
re-signed with the current time so Bolt's signature check and 5-minute window pass. Claims are
conditional updates under ``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL) or ``BEGIN
IMMEDIATE`` (SQLite), so two sweepers never take the same row. After ``max_attempts`` a row
becomes ``dead``: kept, logged at ERROR and counted, never retried.

Delivery is at least once. A replica killed after its listener answered in Slack but before the
row was marked ``done`` leaves it ``pending``, and another replica replays it. Answers carry the
event id as Slack message metadata, and a listener told by :func:`delivery_attempt` that this
is a replay looks for that answer first (``bot.listeners.conversations``), so it is not posted
twice; a proposal made again finds its change by request key. Listeners that change things are
protected further down too (idempotency keys, the consent journal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any, Literal

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import (
    Engine,
    and_,
    or_,
    select,
)

from bot.ingress.inbox_hooks import (
    CONTEXT_KEY,
    Receipt,
    Ticket,
    came_through_inbox,
    delivery_attempt,
    event_type,
    install_hooks,
)
from bot.ingress.inbox_writer import GroupWriter, InboxUnavailable
from bot.ingress.priority import AckFirst
from bot.tables import inbox_table
from twin import utcnow

__all__ = [
    "CONTEXT_KEY",
    "KEEP_DEAD",
    "KEEP_DONE",
    "Inbox",
    "InboxState",
    "InboxUnavailable",
    "Receipt",
    "came_through_inbox",
    "delivery_attempt",
]

log = logging.getLogger(__name__)

InboxState = Literal["pending", "done", "dead"]
"""``pending`` until a listener finished (``done``) or attempts ran out (``dead``)."""


KEEP_DONE = timedelta(days=1)
"""How long finished rows are kept: far longer than Slack's retries (about an hour), so a late
retry still finds its event id and is dropped."""
KEEP_DEAD = timedelta(days=7)
"""How long dead-lettered rows are kept for an operator to look at."""
MAX_HOLD = timedelta(minutes=15)
"""A listener still running after this is presumed hung: its lease is no longer renewed, so
another attempt follows."""
CLAIM_BATCH = 20
"""Rows claimed per query; a pass repeats while full batches come back."""
ERROR_CHARS = 200
WRITE_TIMEOUT = 10.0
"""Seconds an acknowledgement waits for its row before Slack is answered 503 (it retries)."""


class Inbox:
    """Stores Slack events before they are acknowledged and sees each one through Bolt."""

    def __init__(
        self,
        engine: Engine,
        bolt: App,
        *,
        signing_secret: str,
        owner: str,
        lease: timedelta,
        max_attempts: int,
        now: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] | None = None,
        hold_limit: timedelta = MAX_HOLD,
        priority: AckFirst | None = None,
    ) -> None:
        """Wire the inbox to the shared database and this replica's Bolt app.

        Args:
            engine: The shared database (``slack_inbox`` must exist).
            bolt: The Bolt app that handles the events.
            signing_secret: The Slack app's signing secret, to re-sign stored bodies.
            owner: This replica's id, recorded on the rows it holds.
            lease: How long a holder has before another replica may take the event over.
            max_attempts: Dispatches before an event is dead-lettered.
            now: The clock for leases (tests); signatures always use the wall clock, which is
                what Bolt checks them against.
            redact: Removes secrets from error text; without it only the error's type is kept.
            hold_limit: Stop renewing a lease after this long (a hung listener).
            priority: Acknowledgements in flight (:mod:`bot.ingress.priority`); the writer
                thread is on their path and never yields to them.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.engine = engine
        self.bolt = bolt
        self.owner = owner[:128]
        self.lease = lease
        self.max_attempts = max_attempts
        self.now = now
        self.hold_limit = hold_limit
        self.on_replay: list[Callable[[], object]] = []
        """Called once per replayed event (metrics)."""
        self._redact = redact
        self._verifier = SignatureVerifier(signing_secret)
        self._held: dict[str, tuple[int, float]] = {}
        """Event id -> (attempt, monotonic time taken) of each event this replica holds, from
        the insert or claim until it is settled (queued ones too: their lease must not lapse)."""
        self._lock = threading.Lock()
        self.priority = priority or AckFirst()
        self.writer = GroupWriter(engine, on_thread_start=self.priority.mark_ack_path)
        install_hooks(bolt)

    # -- receiving ---------------------------------------------------------------------

    def submit(self, body: str, payload: Mapping[str, Any]) -> Future[Receipt | None]:
        """Queue a signature-verified ``event_callback`` to be stored under this replica's lease.

        The future resolves once the row is committed: to the receipt to dispatch, or to None
        when the event id is already stored (a retry or a duplicate delivery: acknowledge it
        and do nothing). It fails with :class:`InboxUnavailable` when the row could not be
        written (do not acknowledge). The HTTP server awaits it on its event loop.

        Raises:
            ValueError: The payload has no event id.
            InboxUnavailable: The inbox is closed.
        """
        event_id = payload.get("event_id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
            raise ValueError("event_callback without a usable event_id")
        team = payload.get("team_id")
        kind = event_type(payload)
        at = self.now()
        row = {
            "event_id": event_id,
            "team_id": str(team)[:32] if team else None,
            "event_type": kind,
            "received_at": at,
            "body": body,
            "state": "pending",
            "attempts": 1,
            "owner": self.owner,
            "lease_until": at + self.lease,
        }
        out: Future[Receipt | None] = Future()
        out.set_running_or_notify_cancel()  # a caller giving up cannot cancel the write
        receipt = Receipt(event_id=event_id, event_type=kind, body=body, attempt=1)

        def stored(done: Future[bool]) -> None:
            # On the writer thread, right after the commit: held before anyone is told.
            error = done.exception()
            if error is not None:
                out.set_exception(error)
            elif done.result():
                self._hold(receipt)
                out.set_result(receipt)
            else:
                out.set_result(None)

        self.writer.submit(row).add_done_callback(stored)
        return out

    def accept(self, body: str, payload: Mapping[str, Any]) -> Receipt | None:
        """:meth:`submit` and wait for the row to be committed (Socket Mode, tests).

        Returns:
            The receipt to dispatch, or None when the event id is already stored.

        Raises:
            InboxUnavailable: The row could not be written in time; do not acknowledge.
            ValueError: The payload has no event id.
        """
        try:
            return self.submit(body, payload).result(timeout=WRITE_TIMEOUT)
        except FutureTimeout as exc:
            raise InboxUnavailable("the inbox writer did not answer in time") from exc

    def close(self) -> None:
        """Store the events already submitted, then stop the writer (shutdown)."""
        self.writer.close()

    def dispatch(
        self, receipt: Receipt, headers: Mapping[str, str | Sequence[str]] | None = None
    ) -> None:
        """Run a held event through Bolt; the row is settled when its listener finishes.

        Args:
            receipt: From :meth:`accept` or a sweep's claim.
            headers: The original request's headers (kept for logging; the signature and
                timestamp are replaced by fresh ones).
        """
        ticket = Ticket(self, receipt)
        self._hold(receipt)  # already held since accept/claim; a direct call holds it here
        ts = str(int(time.time()))
        fresh: dict[str, str | Sequence[str]] = {
            k: v
            for k, v in (headers or {}).items()
            if k.lower() not in ("x-slack-request-timestamp", "x-slack-signature", "content-length")
        }
        fresh["content-type"] = "application/json"
        fresh["x-slack-request-timestamp"] = ts
        fresh["x-slack-signature"] = (
            self._verifier.generate_signature(timestamp=ts, body=receipt.body) or ""
        )
        req = BoltRequest(body=receipt.body, headers=fresh, context={CONTEXT_KEY: ticket})
        try:
            resp = self.bolt.dispatch(req)
        except Exception as exc:
            ticket.settle(exc)
            return
        ack = req.context.get("ack")
        if getattr(ack, "response", None) is None:
            # No listener was started (a middleware answered, e.g. Bolt ignoring the bot's own
            # message), so no completion will come: settle on Bolt's answer now.
            failed = resp.status >= 400
            ticket.settle(RuntimeError(f"Bolt answered {resp.status}") if failed else None)

    def record_outcome(self, ticket: Ticket, error: BaseException | None) -> None:
        """Mark the row of a finished dispatch ``done``, or record its error (Ticket.settle)."""
        try:
            self._record(ticket, error)
        finally:
            # Only now, so an event is never both unrecorded and missing from held().
            r = ticket.receipt
            with self._lock:
                if self._held.get(r.event_id, (0, 0.0))[0] == r.attempt:
                    del self._held[r.event_id]

    def _hold(self, receipt: Receipt) -> None:
        with self._lock:
            held = self._held.get(receipt.event_id)
            if held is None or held[0] != receipt.attempt:
                self._held[receipt.event_id] = (receipt.attempt, time.monotonic())

    def _record(self, ticket: Ticket, error: BaseException | None) -> None:
        r = ticket.receipt
        t = inbox_table
        try:
            with self.engine.begin() as conn:
                if error is None:
                    conn.execute(
                        t.update()
                        .where(and_(t.c.event_id == r.event_id, t.c.state == "pending"))
                        .values(state="done", done_at=self.now())
                    )
                    return
                conn.execute(
                    t.update()
                    .where(
                        and_(
                            t.c.event_id == r.event_id,
                            t.c.state == "pending",
                            t.c.owner == self.owner,
                            t.c.attempts == r.attempt,
                        )
                    )
                    .values(last_error=self._error_text(error))
                )
        except Exception:
            # The listener ran; only the record is missing. The lease will lapse and the event
            # be replayed: at least once, never lost.
            log.warning(
                "Slack event %s (%s) finished but its inbox row could not be updated",
                r.event_id,
                r.event_type,
                exc_info=True,
            )
            return
        log.warning(
            "Slack event %s (%s) failed on attempt %d of %d (%s); retried after its lease",
            r.event_id,
            r.event_type,
            r.attempt,
            self.max_attempts,
            type(error).__name__,
        )

    def _error_text(self, error: BaseException) -> str:
        name = type(error).__name__
        if self._redact is None:
            return name[:ERROR_CHARS]
        first = str(error).splitlines()[0] if str(error) else ""
        return self._redact(f"{name}: {first}" if first else name)[:ERROR_CHARS]

    # -- sweeping ----------------------------------------------------------------------

    def sweep(self) -> int:
        """One pass: renew own leases, prune old rows, replay or dead-letter expired ones.

        Returns:
            How many events this pass replayed.
        """
        now = self.now()
        self._renew(now)
        self._prune(now)
        replayed = 0
        while True:
            claimed, seen = self._claim(now)
            for receipt in claimed:
                log.info(
                    "replaying Slack event %s (%s), attempt %d",
                    receipt.event_id,
                    receipt.event_type,
                    receipt.attempt,
                )
                for hook in self.on_replay:
                    hook()
                self.dispatch(receipt)
            replayed += len(claimed)
            if seen < CLAIM_BATCH:
                return replayed

    def _renew(self, now: datetime) -> None:
        limit = self.hold_limit.total_seconds()
        with self._lock:
            held = [e for e, (_, t) in self._held.items() if time.monotonic() - t < limit]
        if not held:
            return
        t = inbox_table
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(
                    and_(t.c.event_id.in_(held), t.c.state == "pending", t.c.owner == self.owner)
                )
                .values(lease_until=now + self.lease)
            )

    def _prune(self, now: datetime) -> None:
        t = inbox_table
        with self.engine.begin() as conn:
            conn.execute(
                t.delete().where(
                    or_(
                        and_(t.c.state == "done", t.c.done_at < now - KEEP_DONE),
                        and_(t.c.state == "dead", t.c.received_at < now - KEEP_DEAD),
                    )
                )
            )

    def _claim(self, now: datetime) -> tuple[list[Receipt], int]:
        """Take over up to a batch of expired rows; returns them and how many rows were read."""
        t = inbox_table
        claimed: list[Receipt] = []
        dead: list[Any] = []
        with self.engine.begin() as conn:
            # PostgreSQL: rows another sweeper is claiming right now are skipped, not waited
            # for. SQLite renders no FOR UPDATE; BEGIN IMMEDIATE already serialises writers.
            rows = conn.execute(
                select(
                    t.c.event_id,
                    t.c.event_type,
                    t.c.body,
                    t.c.attempts,
                    t.c.owner,
                    t.c.last_error,
                )
                .where(and_(t.c.state == "pending", t.c.lease_until < now))
                .order_by(t.c.received_at)
                .limit(CLAIM_BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                # Compare-and-set on what was read: a row changed since is left alone.
                unchanged = and_(
                    t.c.event_id == row.event_id,
                    t.c.state == "pending",
                    t.c.owner == row.owner,
                    t.c.attempts == row.attempts,
                    t.c.lease_until < now,
                )
                if row.attempts >= self.max_attempts:
                    res = conn.execute(t.update().where(unchanged).values(state="dead"))
                    if res.rowcount == 1:
                        dead.append(row)
                    continue
                res = conn.execute(
                    t.update()
                    .where(unchanged)
                    .values(
                        owner=self.owner, lease_until=now + self.lease, attempts=row.attempts + 1
                    )
                )
                if res.rowcount == 1:
                    claimed.append(
                        Receipt(
                            event_id=row.event_id,
                            event_type=row.event_type or "unknown",
                            body=row.body,
                            attempt=row.attempts + 1,
                        )
                    )
        for receipt in claimed:
            self._hold(receipt)
        for row in dead:
            log.error(
                "Slack event %s (%s) dead-lettered after %d attempts; last error: %s",
                row.event_id,
                row.event_type,
                row.attempts,
                row.last_error or "none recorded (its holder stopped)",
            )
        return claimed, len(rows)

    def held(self) -> list[str]:
        """Event ids this replica holds: stored or claimed, and not yet settled."""
        with self._lock:
            return sorted(self._held)
