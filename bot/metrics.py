"""Prometheus metrics for one replica, served on ``GET /metrics``.

Two kinds of numbers. Events seen by *this* replica (changes decided and finished, decision
latency, consent wait, Slack ack latency, errors logged) are counters and histograms fed by a
subscriber on ``oh.ops.subscribers``, a Bolt middleware and a logging handler. State shared by
all replicas (queue depth and age, integration calls in the ledger, the Slack inbox) and this
replica's view of it (twin size, serial lag, circuit states) is read by a collector, never with
a scan of a whole table: the integration-call counts are kept incrementally (each scrape reads
only the ledger rows added since the last finished one), queue depth reads the indexed waiting
states, and the rendered page is cached for ``cache_seconds`` so a scrape storm asks the database
once. Shared numbers are the same on every replica: aggregate them with ``max`` rather than
``sum``. Served on the management listener (:mod:`bot.ingress.management`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.service import ChangeEvent, Operations
from bot.bootstrap import Opshand
from bot.ingress import Inbox
from bot.tables import inbox_table
from twin import utcnow

__all__ = [
    "CIRCUIT_VALUES",
    "Metrics",
    "install_metrics",
    "metrics_for",
    "metrics_routes",
    "replica_id",
]

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; fine below 100 ms because Slack's ack budget is 3 s and ours is 100 ms."""
WAIT_BUCKETS = (1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
"""Seconds a change waits for people: from seconds to a day."""
CIRCUIT_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
"""``opshand_circuit_state`` values (a number so alerts can say ``> 0``)."""
QUEUE_STATES = ("awaiting_consent", "approved", "auto_approved", "queued", "executing")
"""Journal states that are work waiting or in progress."""


def replica_id() -> str:
    """This process's name in metrics: ``OPSHAND_REPLICA_ID`` or ``host:pid``."""
    return os.environ.get("OPSHAND_REPLICA_ID") or f"{socket.gethostname()}:{os.getpid()}"


def _kind(body: dict[str, Any]) -> str:
    kind = str(body.get("type") or "unknown")
    if kind == "event_callback":
        return "event"
    if body.get("command"):
        return "command"
    return kind if kind in ("block_actions", "view_submission", "shortcut") else "other"


class _ErrorCounter(logging.Handler):
    """Counts ERROR records by logger: every caught-and-logged failure shows up as a number."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(level=logging.ERROR)
        self._counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self._counter.labels(logger=record.name.split(".")[0] or "root").inc()


class _CallCounts:
    """Integration calls by (capability, outcome), kept up to date from the ledger's new rows.

    A ledger row is written ``calling`` and updated once to its outcome. Rows at or below the
    watermark are all counted; each read takes only rows above it, counts those that finished
    and moves the watermark up to just below the oldest still ``calling``.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.watermark = 0
        self._counted: set[int] = set()
        self.in_flight: dict[str, int] = {}
        self.rows_read = 0
        """Rows read so far (what a scrape costs; tests check it stays incremental)."""

    def update(self, ops: Operations) -> None:
        """Count the ledger's rows above the watermark (read through the facade)."""
        rows = ops.calls_after(self.watermark)
        self.rows_read += len(rows)
        oldest_open: int | None = None
        in_flight: dict[str, int] = {}
        for row_id, cap, outcome in rows:
            if outcome == "calling":
                in_flight[str(cap)] = in_flight.get(str(cap), 0) + 1
                oldest_open = row_id if oldest_open is None else oldest_open
                continue
            if row_id not in self._counted:
                key = (str(cap), str(outcome))
                self.counts[key] = self.counts.get(key, 0) + 1
                self._counted.add(row_id)
        if rows:
            self.watermark = (oldest_open - 1) if oldest_open is not None else int(rows[-1][0])
        self._counted = {i for i in self._counted if i > self.watermark}
        self.in_flight = in_flight


class _StateCollector(Collector):
    """Reads shared state from the database and this replica's view of it."""

    def __init__(self, oh: Opshand, replica: str) -> None:
        self.oh = oh
        self.replica = replica
        self.calls = _CallCounts()

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._database()
        except Exception:  # a scrape during a database outage still reports the rest
            log.warning("metrics: database unreadable during scrape", exc_info=True)
        yield from self._local()

    def _database(self) -> Iterator[Metric]:
        now = utcnow()
        depth = GaugeMetricFamily(
            "opshand_queue_depth", "Changes waiting or in progress, by state.", labels=["state"]
        )
        age = GaugeMetricFamily(
            "opshand_queue_oldest_seconds",
            "Age of the oldest change in each waiting state (since its last move).",
            labels=["state"],
        )
        calls = CounterMetricFamily(
            "opshand_integration_calls",
            "Integration calls in the shared call ledger, by capability and outcome.",
            labels=["capability", "outcome"],
        )
        found = self.oh.ops.queue_by_state(QUEUE_STATES)
        for state in QUEUE_STATES:
            n, oldest = found.get(state, (0, None))
            depth.add_metric([state], n)
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=now.tzinfo)
            age.add_metric([state], (now - oldest).total_seconds() if oldest else 0.0)
        self.calls.update(self.oh.ops)
        for (cap, outcome), n in sorted(self.calls.counts.items()):
            calls.add_metric([cap, outcome], n)
        for cap, n in sorted(self.calls.in_flight.items()):
            calls.add_metric([cap, "calling"], n)
        yield from _inbox_state(self.oh, now)
        _, db_serial = self.oh.store.meta()
        lag = GaugeMetricFamily(
            "opshand_twin_serial_lag",
            "Change-log serials this replica's twin has not applied yet.",
            labels=["replica"],
        )
        # Read the graph without catching up (ops.graph would), or the lag would always be 0.
        local_serial = self.oh.ops.held_graph.serial
        lag.add_metric([self.replica], max(0, db_serial - local_serial))
        yield from (depth, age, calls, lag)

    def _local(self) -> Iterator[Metric]:
        size = GaugeMetricFamily(
            "opshand_twin_entities", "Entities in this replica's twin.", labels=["replica"]
        )
        serial = GaugeMetricFamily(
            "opshand_twin_serial", "Serial of this replica's twin.", labels=["replica"]
        )
        graph = self.oh.ops.held_graph
        size.add_metric([self.replica], len(graph))
        serial.add_metric([self.replica], int(graph.serial))
        circuits = GaugeMetricFamily(
            "opshand_circuit_state",
            "Circuit of each integration as seen by this replica: 0 closed, 1 half-open, 2 open.",
            labels=["replica", "category"],
        )
        for category, state in sorted(self.oh.ops.circuit_states().items()):
            circuits.add_metric([self.replica, category], CIRCUIT_VALUES.get(state, 2.0))
        yield from (size, serial, circuits)


def _inbox_state(oh: Opshand, now: datetime) -> Iterator[Metric]:
    """The durable Slack inbox (shared): events waiting to be handled, and dead letters."""
    t = inbox_table
    with oh.engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(t.c.received_at)).where(t.c.state == "pending")
        ).one()
        dead = conn.execute(select(func.count()).where(t.c.state == "dead")).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    yield GaugeMetricFamily(
        "opshand_inbox_pending",
        "Slack events stored and not yet handled (in progress or waiting for a replay).",
        value=int(pending),
    )
    yield GaugeMetricFamily(
        "opshand_inbox_oldest_pending_seconds",
        "Age of the oldest Slack event not yet handled (0 when none).",
        value=(now - oldest).total_seconds() if oldest else 0.0,
    )
    yield GaugeMetricFamily(
        "opshand_inbox_dead",
        "Slack events dead-lettered after their last attempt failed (kept for a week).",
        value=int(dead),
    )


class Metrics:
    """The metric objects of one replica, on their own registry (tests make several)."""

    def __init__(
        self, oh: Opshand, *, replica: str | None = None, cache_seconds: float = 10.0
    ) -> None:
        """Create the metrics and register the scrape-time collector for ``oh``.

        Args:
            oh: The wired opshand.
            replica: This replica's name (default :func:`replica_id`).
            cache_seconds: How long one rendered page answers every scrape.
        """
        self.oh = oh
        self.replica = replica or replica_id()
        self.cache_seconds = cache_seconds
        self._page: tuple[float, bytes] | None = None
        self._page_lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.changes_decided = Counter(
            "opshand_changes_decided",
            "Policy decisions, by action kind and outcome (auto/consent/deny).",
            ["action", "outcome"],
            registry=r,
        )
        self.changes_finished = Counter(
            "opshand_changes_finished",
            "Executions finished by this replica, by action kind and end state.",
            ["action", "state"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "opshand_decision_seconds",
            "From request to policy decision (rehearsal included).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consent_wait_seconds = Histogram(
            "opshand_consent_wait_seconds",
            "From request to the consent outcome (approved or rejected).",
            ["outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.slack_ack_seconds = Histogram(
            "opshand_slack_ack_seconds",
            "From Bolt receiving a request to its acknowledgement, by request type.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_ack_seconds = Histogram(
            "opshand_http_ack_seconds",
            "From a Slack request reaching the HTTP server to its response, by status.",
            ["status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "opshand_errors", "ERROR log records, by top-level package.", ["logger"], registry=r
        )
        self.inbox_replays = Counter(
            "opshand_inbox_replays",
            "Slack events this replica replayed from the inbox (their first holder stopped or "
            "failed).",
            registry=r,
        )
        self.state = _StateCollector(oh, self.replica)
        r.register(self.state)
        self.error_handler: logging.Handler = _ErrorCounter(self.errors)

    def on_change(self, event: ChangeEvent) -> None:
        """Record one change event (subscribe this to ``oh.ops.subscribers``)."""
        change = event.change
        if event.kind == "decided":
            outcome = str(event.detail.get("outcome", "unknown"))
            self.changes_decided.labels(action=change.action, outcome=outcome).inc()
            elapsed = (utcnow() - change.created_at).total_seconds()
            self.decision_seconds.observe(max(0.0, elapsed))
        elif event.kind == "vote" and change.state in ("approved", "queued", "rejected"):
            outcome = "rejected" if change.state == "rejected" else "approved"
            wait = (utcnow() - change.created_at).total_seconds()
            self.consent_wait_seconds.labels(outcome=outcome).observe(max(0.0, wait))
        elif event.kind == "finished":
            self.changes_finished.labels(action=change.action, state=change.state).inc()

    def watch_inbox(self, inbox: Inbox) -> None:
        """Count ``inbox``'s replays in ``opshand_inbox_replays``."""
        if self.inbox_replays.inc not in inbox.on_replay:
            inbox.on_replay.append(self.inbox_replays.inc)

    def wrap_dispatch(self, app: App) -> None:
        """Time ``app.dispatch``: Bolt returns once the request is acknowledged.

        (A middleware cannot do this: Bolt runs listeners, and so the ack, after the
        middleware chain has returned.)
        """
        dispatch = app.dispatch

        def timed(req: BoltRequest) -> BoltResponse:
            started = time.perf_counter()
            try:
                return dispatch(req)
            finally:
                body = req.body if isinstance(req.body, dict) else {}
                self.slack_ack_seconds.labels(type=_kind(body)).observe(
                    time.perf_counter() - started
                )

        setattr(app, "dispatch", timed)  # noqa: B010  (instance attribute on purpose)

    def asgi(self, inner: ASGIApp, path: str = "/slack/events") -> ASGIApp:
        """Wrap the HTTP app: time each Slack request from arrival to response start.

        In HTTP mode events are acknowledged before Bolt sees them, so this is the ack latency
        Slack sees (``opshand_http_ack_seconds``).
        """

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope.get("path") != path:
                await inner(scope, receive, send)
                return
            started = time.perf_counter()

            async def timed_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.http_ack_seconds.labels(status=str(message["status"])).observe(
                        time.perf_counter() - started
                    )
                await send(message)

            await inner(scope, receive, timed_send)

        return app

    def render(self) -> bytes:
        """The exposition text of every metric (one page per ``cache_seconds``)."""
        with self._page_lock:  # concurrent scrapes share one database read
            now = time.monotonic()
            if self._page is not None and now - self._page[0] < self.cache_seconds:
                return self._page[1]
            page = generate_latest(self.registry)
            self._page = (now, page)
            return page


_BY_OH: dict[int, Metrics] = {}


def metrics_for(oh: Opshand) -> Metrics:
    """The one :class:`Metrics` of ``oh`` (created on first use, without any hooks)."""
    found = _BY_OH.get(id(oh))
    if found is None or found.oh is not oh:
        cache = float(oh.settings.management.metrics_cache_seconds)
        found = _BY_OH[id(oh)] = Metrics(oh, cache_seconds=cache)
    return found


def install_metrics(app: App | None, oh: Opshand) -> Metrics:
    """Feed ``oh``'s metrics: change events, Bolt ack timing (when ``app`` given), error logs.

    Call once per process, after ``bot.app.build_app``. For HTTP mode also wrap the ASGI app
    with :meth:`Metrics.asgi` to measure the ack Slack sees.
    """
    m = metrics_for(oh)
    if m.on_change not in oh.ops.subscribers:
        oh.ops.subscribers.append(m.on_change)
    if app is not None:
        m.wrap_dispatch(app)
    root = logging.getLogger()
    if m.error_handler not in root.handlers:
        root.addHandler(m.error_handler)
    return m


def metrics_routes(oh: Opshand) -> list[Route]:
    """``GET /metrics`` for the HTTP server (mount with ``routes=``)."""
    m = metrics_for(oh)

    async def metrics(request: Request) -> Response:
        # Collectors query the database: keep that off the event loop that acks Slack.
        body = await run_in_threadpool(m.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
