"""Socket Mode for the local workspace: ``apps.connections.open``, the WebSocket, envelopes, acks.

Slack's protocol (docs.slack.dev, "Using Socket Mode"), as the ``slack_sdk`` clients speak it:

1. The app calls ``apps.connections.open`` with its app-level token (``xapp-…``, in the
   ``Authorization`` header) and gets ``{"ok": true, "url": "wss://…/link/?ticket=…"}``.
2. It opens that URL (each ticket once) and receives ``{"type": "hello", …}``.
3. Slack sends envelopes ``{"envelope_id", "type", "payload", "accepts_response_payload"}``;
   ``type`` is ``events_api`` (plus ``retry_attempt``/``retry_reason``), ``interactive`` or
   ``slash_commands``. The app acknowledges with ``{"envelope_id": …}``, optionally with a
   ``payload`` (a slash command's reply, a view submission's ``response_action``).
4. An Events API envelope not acknowledged in time is sent again with ``retry_attempt``
   incremented; interactions and commands are not (the person sees an error instead).
5. ``{"type": "disconnect", "reason": …}`` asks the app to open a fresh connection; the old one
   is closed soon after.

:class:`SocketModeHub` serves steps 1-5 from the same Starlette app as the Web API; the
``Deliverer`` hands it each request while a client is connected, instead of posting it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.localslack.delivery import Attempt, Delivery, DeliveryKind, EnvelopeType, RetryReason
from bot.localslack.directory import APP_ID
from bot.localslack.state import JSON, Workspace

__all__ = ["DEFAULT_APP_TOKEN", "SocketModeHub"]

DisconnectReason = Literal["warning", "refresh_requested", "link_disabled"]

DEFAULT_APP_TOKEN = "xapp-local"  # noqa: S105 - the local workspace's fake app-level token
"""The app-level token the local workspace accepts unless told otherwise."""
METHOD = "apps.connections.open"
TICKET_TTL = 30.0
"""Seconds a URL from ``apps.connections.open`` may be used to connect (once)."""
HOST = "localslack-applink"
"""The ``debug_info.host`` Slack puts in ``hello`` and ``disconnect``."""
_KINDS: dict[EnvelopeType, DeliveryKind] = {
    "events_api": "event",
    "interactive": "interaction",
    "slash_commands": "command",
}
_SEND_TIMEOUT = 5.0


@dataclass(eq=False)
class _Link:
    """One open WebSocket and the event loop that owns it."""

    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    opened: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _Waiter:
    """An envelope waiting for its acknowledgement."""

    acked: threading.Event = field(default_factory=threading.Event)
    payload: JSON | None = None


class SocketModeHub:
    """The Socket Mode side of the local workspace: connections, envelopes and acks."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        app_token: str | None,
        ack_timeout: float,
        base_url: str = "",
    ) -> None:
        """Create the hub; it serves nothing until its :meth:`routes` are mounted.

        Args:
            workspace: The workspace (for the call log and injected rate limits).
            app_token: The only app-level token ``apps.connections.open`` accepts; ``None``
                turns Socket Mode off (every token is refused).
            ack_timeout: Seconds the app has to acknowledge each envelope (Slack: 3).
            base_url: ``http://host:port/`` of the server; set at start.
        """
        if app_token is not None and not app_token.startswith("xapp-"):
            raise ValueError("an app-level token starts with 'xapp-'")
        if ack_timeout <= 0:
            raise ValueError("ack_timeout must be positive")
        self.workspace = workspace
        self.app_token = app_token
        self.ack_timeout = ack_timeout
        self.base_url = base_url
        self.attempts: list[Attempt] = []
        """Every envelope sent (one entry per attempt), oldest first."""
        self._lock = threading.Lock()
        self._tickets: dict[str, float] = {}
        self._links: list[_Link] = []
        self._waiting: dict[str, _Waiter] = {}
        self._drop_acks = 0

    # -- state --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a Socket Mode client is connected (deliveries then go over it)."""
        with self._lock:
            return bool(self._links)

    @property
    def connections(self) -> int:
        """How many clients are connected now."""
        with self._lock:
            return len(self._links)

    @property
    def link_url(self) -> str:
        """The WebSocket address clients connect to (without a ticket)."""
        return "ws" + self.base_url.removeprefix("http") + "link/"

    def wait_connected(self, timeout: float = 10.0, count: int = 1) -> None:
        """Block until at least ``count`` clients are connected.

        Raises:
            TimeoutError: if they do not connect within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.connections < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Socket Mode client connected within {timeout:g} s")
            time.sleep(0.02)

    def drop_next_acks(self, count: int = 1) -> None:
        """Lose the next ``count`` acknowledgements, as a flaky network would (tests)."""
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._drop_acks += count

    # -- routes -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """``apps.connections.open`` (mount before the generic ``/api/{method}``) and the link."""
        return [
            Route(f"/api/{METHOD}", self._open, methods=["GET", "POST"]),
            WebSocketRoute("/link/", self._link),
        ]

    async def _open(self, request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        self.workspace.record_call(METHOD, {})
        retry_after = self.workspace.take_rate_limit(METHOD)
        if retry_after is not None:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        if not token:
            # Slack wants the app token in the header; a form or query token is not read.
            return JSONResponse({"ok": False, "error": "not_authed"})
        if token.startswith("xox"):
            return JSONResponse({"ok": False, "error": "not_allowed_token_type"})
        if self.app_token is None or not secrets.compare_digest(token, self.app_token):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        ticket = uuid.uuid4().hex
        with self._lock:
            now = time.monotonic()
            self._tickets = {t: at for t, at in self._tickets.items() if now - at < TICKET_TTL}
            self._tickets[ticket] = now
        return JSONResponse({"ok": True, "url": f"{self.link_url}?ticket={ticket}&app_id={APP_ID}"})

    def _take_ticket(self, ticket: str | None) -> bool:
        with self._lock:
            issued = self._tickets.pop(ticket or "", None)
        return issued is not None and time.monotonic() - issued < TICKET_TTL

    async def _link(self, websocket: WebSocket) -> None:
        if not self._take_ticket(websocket.query_params.get("ticket")):
            await websocket.close(code=1008)  # before accept: the handshake fails with 403
            return
        await websocket.accept()
        link = _Link(websocket=websocket, loop=asyncio.get_running_loop())
        with self._lock:
            self._links.append(link)
            count = len(self._links)
        try:
            await websocket.send_text(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": count,
                        "debug_info": {
                            "host": HOST,
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": APP_ID},
                    }
                )
            )
            while True:
                self._on_message(await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            pass  # the client left, or we closed the link (disconnect) while it was reading
        finally:
            with self._lock:
                if link in self._links:
                    self._links.remove(link)

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return  # Slack ignores what it cannot parse
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            return
        with self._lock:
            if self._drop_acks:
                self._drop_acks -= 1
                return
            waiter = self._waiting.get(message["envelope_id"])
        if waiter is None or waiter.acked.is_set():
            return  # unknown, late or repeated: nothing waits for it
        payload = message.get("payload")
        waiter.payload = payload if isinstance(payload, dict) else None
        waiter.acked.set()

    # -- sending ------------------------------------------------------------------------

    def deliver(
        self, kind: EnvelopeType, payload: JSON, *, retries: Sequence[float] = ()
    ) -> Delivery:
        """Send one envelope and wait for its acknowledgement, redelivering events like Slack.

        Called from a person's thread, never from the server's event loop (it blocks).

        Args:
            kind: The envelope type.
            payload: The event envelope, interaction payload or slash command fields.
            retries: Pauses before each redelivery (Events API only); its length is the
                number of redeliveries.

        Returns:
            The outcome: status 200 when acknowledged (``body`` is the ack's ``payload`` as
            JSON, or empty), 0 when every attempt went unacknowledged.
        """
        envelope_id = str(uuid.uuid4())
        waiter = _Waiter()
        with self._lock:
            self._waiting[envelope_id] = waiter
        done: list[Attempt] = []
        try:
            for attempt in range(len(retries) + 1):
                # A late ack of the previous attempt still counts; then no redelivery.
                if attempt and waiter.acked.wait(retries[attempt - 1]):
                    break
                envelope = self._envelope(kind, envelope_id, payload, attempt)
                raw = json.dumps(envelope)
                sent = self._send(raw)
                acked = sent and waiter.acked.wait(self.ack_timeout)
                reason: RetryReason | None = None
                if not acked:
                    reason = "timeout" if sent else "connection_failed"
                done.append(
                    Attempt(
                        kind=_KINDS[kind],
                        retry_num=attempt,
                        status=200 if acked else 0,
                        reason=reason,
                        body=self._ack_body(waiter) if acked else "",
                        payload=envelope,
                        request_body=raw.encode(),
                        content_type="application/json",
                        timestamp=int(time.time()),
                    )
                )
                if acked:
                    break
        finally:
            with self._lock:
                self._waiting.pop(envelope_id, None)
                self.attempts.extend(done)
        acked = waiter.acked.is_set()
        return Delivery(
            status=200 if acked else 0,
            body=self._ack_body(waiter) if acked else "",
            attempts=tuple(done),
        )

    @staticmethod
    def _ack_body(waiter: _Waiter) -> str:
        return json.dumps(waiter.payload) if waiter.payload else ""

    @staticmethod
    def _envelope(kind: EnvelopeType, envelope_id: str, payload: JSON, attempt: int) -> JSON:
        envelope: JSON = {"envelope_id": envelope_id, "type": kind, "payload": payload}
        if kind == "events_api":
            envelope["accepts_response_payload"] = False
            envelope["retry_attempt"] = attempt
            envelope["retry_reason"] = "timeout" if attempt else ""
        elif kind == "slash_commands":
            envelope["accepts_response_payload"] = True
        else:
            # Only these interactions may be answered in the ack (response_action, options).
            answerable = ("view_submission", "block_suggestion")
            envelope["accepts_response_payload"] = payload.get("type") in answerable
        return envelope

    def _send(self, raw: str) -> bool:
        """Send a text frame on the newest connection; False when none takes it."""
        deadline = time.monotonic() + self.ack_timeout
        while True:
            with self._lock:
                link = self._links[-1] if self._links else None
            if link is not None:
                break
            if time.monotonic() > deadline:
                return False
            # Between a ``disconnect`` and the client's new connection: wait a little.
            time.sleep(0.02)
        if _on_loop(link.loop):
            raise RuntimeError("SocketModeHub.deliver blocks; call it from another thread")
        future = asyncio.run_coroutine_threadsafe(link.websocket.send_text(raw), link.loop)
        try:
            future.result(timeout=_SEND_TIMEOUT)
        except Exception:  # closed under us, or the loop is gone: treat as not delivered
            return False
        return True

    def disconnect(self, reason: DisconnectReason = "refresh_requested", grace: float = 1.0) -> int:
        """Ask every client to reconnect (``disconnect`` message), closing each after ``grace``.

        Returns:
            How many connections were told.
        """
        with self._lock:
            links = list(self._links)
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": HOST}})
        for link in links:
            asyncio.run_coroutine_threadsafe(_say_and_close(link, message, grace), link.loop)
        return len(links)


async def _say_and_close(link: _Link, message: str, grace: float) -> None:
    try:
        await link.websocket.send_text(message)
        await asyncio.sleep(grace)
        await link.websocket.close(code=1001)
    except Exception:  # noqa: S110 - the client may already have gone; nothing to do then
        pass


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
