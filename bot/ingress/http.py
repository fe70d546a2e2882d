"""HTTP mode: a Starlette app, served by uvicorn, that receives Slack's requests.

``POST /slack/events`` checks size and signature itself (C1, C2, C6) before handing the request
to Bolt in a worker thread: the Bolt app is synchronous, and running it on the event loop would
make one slow listener hold up every other request's acknowledgement. Every body, on every
route, stops at the size limit while it streams (:mod:`bot.ingress.limits`). ``GET /healthz``
and ``GET /readyz`` (:mod:`bot.ingress.management`) are served here only when asked
(``health=True``); ``opshand serve`` puts them and ``/metrics`` on the management listener.
Other routes (webhooks) are mounted through ``routes``.

Given an :class:`bot.ingress.inbox.Inbox`, each ``event_callback`` is stored in the shared database
before it is acknowledged, so an event survives the replica dying mid-way (another replica's
sweeper replays it); when it cannot be stored, Slack is answered 503 and retries later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.ingress.inbox import WRITE_TIMEOUT, Inbox, InboxUnavailable, Receipt
from bot.ingress.limits import BodyLimit, BodyTooLarge, read_body
from bot.ingress.management import SlackCheck, health_routes
from bot.ingress.threaded import ThreadedServer

__all__ = ["EVENT_WORKERS", "MAX_BODY", "HttpServer", "create_http_app"]

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
"""Largest request body accepted (bytes). Slack's payloads are far smaller; anything bigger is
not from Slack and is refused before it is read into memory twice."""
EVENT_WORKERS = 8
"""Threads that hand acknowledged events to Bolt. Few on purpose: listener work is Python under
one GIL, and more threads only slow the event loop that answers Slack."""


def _dispatch_logged(
    bolt: App, body: str, query: str, headers: dict[str, str | Sequence[str]]
) -> None:
    """Run an acknowledged event through Bolt; nobody waits for the answer, so log problems."""
    try:
        resp = bolt.dispatch(BoltRequest(body=body, query=query, headers=headers))
    except Exception:
        log.exception("Slack event failed after it was acknowledged")
        return
    if resp.status >= 400:
        log.warning(
            "Slack event answered %d after it was acknowledged: %s", resp.status, resp.body[:200]
        )


def _dispatch_held(inbox: Inbox, receipt: Receipt, headers: dict[str, str | Sequence[str]]) -> None:
    """Dispatch a stored event; a failure is left to the inbox's sweeper, so only log it."""
    # A burst's acks come before the listeners of its first events (bot.ingress.priority).
    inbox.priority.yield_to_acks()
    try:
        inbox.dispatch(receipt, headers)
    except Exception:
        log.exception("Slack event %s failed after it was stored", receipt.event_id)


def create_http_app(
    bolt: App,
    *,
    engine: Engine,
    signing_secret: str,
    routes: Sequence[BaseRoute] = (),
    circuits: Callable[[], Mapping[str, str]] | None = None,
    max_body: int = MAX_BODY,
    path: str | None = "/slack/events",
    event_workers: int = EVENT_WORKERS,
    inbox: Inbox | None = None,
    health: bool = True,
) -> Starlette:
    """The ASGI app for HTTP mode.

    Args:
        bolt: The synchronous Bolt app (``bot.app.build_app``).
        engine: The database, checked by ``/readyz``.
        signing_secret: The Slack app's signing secret.
        routes: Extra routes to mount (e.g. ``bot.ingress.webhooks.webhook_routes(...)``).
        circuits: Integration name -> circuit state (``closed``/``open``/``half_open``).
        max_body: Largest body accepted, in bytes.
        path: Slack's request URL path; None serves no Slack route (Socket Mode, where events
            arrive over the WebSocket and only health, metrics and webhooks are served).
        event_workers: Threads dispatching acknowledged events to Bolt.
        inbox: Store events durably before acknowledging them (production); None hands them
            to Bolt straight away, de-duplicated by its middleware only.
        health: Also serve ``/healthz`` and ``/readyz`` here (tests, the demo); ``opshand
            serve`` serves them on the management listener instead
            (:mod:`bot.ingress.management`).
    """
    verifier = SignatureVerifier(signing_secret)
    background = ThreadPoolExecutor(max_workers=event_workers, thread_name_prefix="slack-event")

    async def events(request: Request) -> Response:
        if inbox is None:
            return await _events(request)
        # This thread (the event loop) answers Slack: it never waits for other work, and
        # other work waits (briefly) for the acks in flight (bot.ingress.priority).
        inbox.priority.mark_ack_path()
        with inbox.priority.acking():
            return await _events(request)

    async def _events(request: Request) -> Response:
        try:
            # Counted while it streams: a chunked body stops at the limit (C8).
            body = await read_body(request, max_body)
        except BodyTooLarge:
            log.warning("Slack request refused: body is over %d bytes", max_body)
            return Response("payload too large", status_code=413)
        ts = request.headers.get("x-slack-request-timestamp", "")
        sig = request.headers.get("x-slack-signature", "")
        if not ts or not sig:
            log.warning("Slack request refused: signature headers missing")
            return Response("missing signature", status_code=401)
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            log.warning("Slack request refused: timestamp %r outside the 5-minute window", ts)
            return Response("stale timestamp", status_code=401)
        if not verifier.is_valid(body=body, timestamp=ts, signature=sig):
            log.warning("Slack request refused: signature does not match the body")
            return Response("invalid signature", status_code=401)
        headers: dict[str, str | Sequence[str]] = dict(request.headers.items())
        query = str(request.url.query)
        try:
            raw = body.decode("utf-8")
            payload = json.loads(raw) if raw.startswith("{") else None
        except (UnicodeDecodeError, ValueError) as exc:
            log.warning("Slack request refused: malformed payload (%s)", type(exc).__name__)
            return Response("malformed payload", status_code=400)
        if isinstance(payload, dict) and payload.get("type") == "event_callback":
            # Events need nothing but a 2xx: answer now and let Bolt (de-duplication, then the
            # listener) run in the background. Slack gets its ack in a few milliseconds however
            # busy the listeners are; a retry is acked too and dropped by the de-duplication.
            if inbox is not None and isinstance(payload.get("event_id"), str):
                return await _store_then_dispatch(inbox, raw, payload, headers)
            background.submit(_dispatch_logged, bolt, raw, query, headers)
            return Response(status_code=200)
        try:
            req = BoltRequest(body=raw, query=query, headers=headers)
        except (ValueError, AttributeError, TypeError, KeyError) as exc:
            # Bolt parses the body while building the request; a JSON array or a form without
            # its fields fails inside it with whatever the first lookup raised.
            log.warning("Slack request refused: malformed payload (%s)", type(exc).__name__)
            return Response("malformed payload", status_code=400)
        if not isinstance(req.body, dict) or not req.body:
            log.warning("Slack request refused: payload is not a JSON object or form")
            return Response("malformed payload", status_code=400)
        resp = await run_in_threadpool(bolt.dispatch, req)
        return Response(
            content=resp.body,
            status_code=resp.status,
            headers=resp.first_headers_without_set_cookie(),
        )

    async def _store_then_dispatch(
        inbox: Inbox,
        raw: str,
        payload: dict[str, Any],
        headers: dict[str, str | Sequence[str]],
    ) -> Response:
        # The row must be written before the 200: once acked, Slack never sends the event
        # again. The insert is also the de-duplication (the event id is the primary key).
        # Awaited on the event loop: the writer thread resolves the future after the commit
        # that holds the row, with no worker thread waiting in between.
        try:
            receipt = await asyncio.wait_for(
                asyncio.wrap_future(inbox.submit(raw, payload)), WRITE_TIMEOUT
            )
        except (InboxUnavailable, TimeoutError) as exc:
            log.warning("Slack event not stored (%s): answered 503 so Slack retries", exc)
            return Response("event store unavailable", status_code=503)
        except ValueError:
            log.warning("Slack request refused: malformed payload (event id)")
            return Response("malformed payload", status_code=400)
        if receipt is None:
            retry = headers.get("x-slack-retry-num") or "0"
            log.info("duplicate Slack event %s ignored (retry %s)", payload["event_id"], retry)
            return Response(status_code=200)
        background.submit(_dispatch_held, inbox, receipt, headers)
        return Response(status_code=200)

    return Starlette(
        # Every route, the webhooks included, stops reading a body at the limit.
        middleware=[Middleware(BodyLimit, limit=max_body)],
        routes=[
            *([Route(path, events, methods=["POST"])] if path else []),
            *(
                health_routes(
                    engine=engine, slack=SlackCheck(bolt.client.auth_test), circuits=circuits
                )
                if health
                else []
            ),
            *routes,
        ],
    )


class HttpServer:
    """An ASGI app served in a background thread (tests, benchmarks, the demo).

    Serves through :class:`bot.ingress.threaded.ThreadedServer`, the one threaded-server helper.
    """

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare; ``start()`` binds ``host:port`` (0 picks a free port)."""
        self.app = app
        self._host = host
        self._serving = ThreadedServer(app, host=host, port=port, name="opshand-http")

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        if not self._serving.started:
            raise RuntimeError("HttpServer is not started")
        return f"http://{self._host}:{self._serving.port}"

    @property
    def url(self) -> str:
        """Slack's request URL."""
        return self.base_url + "/slack/events"

    def start(self) -> None:
        """Bind and serve; returns once requests are accepted."""
        self._serving.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._serving.stop()
