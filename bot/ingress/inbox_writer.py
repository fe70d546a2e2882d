"""One writer thread that stores Slack inbox rows in batches (group commit).

Every acknowledgement waits for its event's row to be committed, and under a burst many wait
at once. Instead of one transaction per event, each taking the database's write lock in turn
(on SQLite writers wait for it by sleeping and polling), the rows queued while one transaction
commits go into the next one. A caller gets a :class:`~concurrent.futures.Future` that is
resolved only after the transaction holding its row committed, so an event is never
acknowledged before it is durable; when the transaction fails, every caller in it gets the
error. The HTTP server awaits that future on its event loop, so an acknowledgement needs no
worker thread of its own.

Guarantees:

* **Durable before resolved**: a future resolves after ``COMMIT`` returned.
* **Ordered**: rows are inserted, and futures resolved, in the order they were submitted; a
  row is never committed before one submitted earlier.
* **De-duplicated**: the event id is the primary key (``ON CONFLICT DO NOTHING``); a row whose
  id is already stored, or appears earlier in the same batch (a retry racing its original),
  resolves ``False``.
* **Drained on close**: :meth:`GroupWriter.close` stores everything submitted before it, then
  stops the thread; later submissions fail with :class:`InboxUnavailable`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.tables import inbox_table

__all__ = ["WRITE_BATCH", "GroupWriter", "InboxUnavailable"]

log = logging.getLogger(__name__)

WRITE_BATCH = 200
"""Most rows stored in one transaction."""

_STOP = object()
"""Queued by :meth:`GroupWriter.close` after the last row: the thread ends when it reaches it."""


class InboxUnavailable(Exception):
    """The event could not be stored (database down): answer Slack 5xx so it retries."""


_Item = tuple[dict[str, Any], "Future[bool]"]


_INSERTS = {
    dialect: insert(inbox_table)
    .on_conflict_do_nothing(index_elements=[inbox_table.c.event_id])
    .returning(inbox_table.c.event_id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
"""One statement per dialect, built once: executed with a list of rows it stays in
SQLAlchemy's compiled cache (``insertmanyvalues`` batches the rows into multi-row INSERTs),
where a ``.values(rows)`` statement is compiled again for every batch size, which measured
ten times slower under load."""


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose event id is not stored yet; returns the ids inserted now."""
    stmt = _INSERTS.get(conn.dialect.name)
    if stmt is None:
        raise RuntimeError(f"the Slack inbox does not support {conn.dialect.name}")
    return {str(r.event_id) for r in conn.execute(stmt, rows)}


class GroupWriter:
    """Commits inbox rows from one thread, all rows queued meanwhile in one transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = WRITE_BATCH,
        insert: Callable[[Connection, list[dict[str, Any]]], set[str]] = insert_rows,
        on_thread_start: Callable[[], object] | None = None,
    ) -> None:
        """Prepare; the thread starts with the first submission.

        Args:
            engine: The shared database (``slack_inbox`` must exist).
            max_batch: Most rows in one transaction.
            insert: Stores a batch on an open transaction and returns the ids it inserted
                (tests replace it to fail or to stall).
            on_thread_start: Called on the writer thread when it starts (it marks the thread
                as part of the acknowledgement path, :mod:`bot.ingress.priority`).
        """
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self._insert = insert
        self._on_start = on_thread_start
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        """Transactions committed or attempted (metrics, tests)."""

    def submit(self, row: dict[str, Any]) -> Future[bool]:
        """Queue ``row``; the future says whether it was inserted (False: a duplicate).

        The future resolves only once the row is committed, or fails with
        :class:`InboxUnavailable` when its transaction did not commit.

        Raises:
            InboxUnavailable: The writer is closed.
        """
        done: Future[bool] = Future()
        with self._lock:
            # Under the lock, so nothing is queued behind close()'s stop marker.
            if self._closed:
                raise InboxUnavailable("the inbox writer is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="slack-inbox-writer", daemon=True
                )
                self._thread.start()
            self._queue.put((row, done))
        return done

    def close(self, timeout: float = 30.0) -> None:
        """Store everything submitted so far, then stop the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the Slack inbox writer did not finish within %.0f s", timeout)

    def _run(self) -> None:
        if self._on_start is not None:
            self._on_start()
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Item] = [first]  # type: ignore[list-item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Item]) -> None:
        # The same event twice in one batch (a retry racing its original): the first one wins.
        firsts: dict[str, dict[str, Any]] = {}
        for row, _ in batch:
            firsts.setdefault(row["event_id"], row)
        self.batches += 1
        try:
            with self.engine.begin() as conn:
                stored = self._insert(conn, list(firsts.values()))
        except Exception as exc:  # any driver or pool error: these events are not durable
            log.warning(
                "%d Slack event(s) could not be stored (%s)", len(batch), type(exc).__name__
            )
            for _, done in batch:
                error = InboxUnavailable(type(exc).__name__)
                error.__cause__ = exc
                done.set_exception(error)
            return
        # Committed: release the callers, in the order they came.
        for row, done in batch:
            done.set_result(firsts[row["event_id"]] is row and row["event_id"] in stored)
