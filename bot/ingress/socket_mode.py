"""Socket Mode with the durable inbox: an event is stored before its envelope is acknowledged.

slack_bolt's ``SocketModeHandler`` acknowledges an envelope after Bolt's ``ack()``, which for
an event is before its listener ran; a replica killed in between loses the event, since Slack
never sends an acknowledged envelope again. HTTP mode solved this with :mod:`bot.ingress.inbox`, and
:class:`InboxSocketModeListener` does the same over the WebSocket:

* ``events_api``: the ``event_callback`` is inserted into ``slack_inbox`` (the durable copy, its
  lease, and the de-duplication step), *then* acknowledged, then dispatched through the inbox.
  If the row cannot be written the envelope is left unacknowledged, so Slack redelivers it. An
  event id already stored (a redelivery) is acknowledged and dropped. Every replica's
  :class:`bot.ingress.sweeper.InboxSweeper` replays events whose holder died, as in HTTP mode.
* ``interactive`` and ``slash_commands``: run through Bolt and acknowledged with Bolt's answer,
  as slack_bolt does (Slack never redelivers those; the person sees an error and clicks again).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from slack_bolt.adapter.socket_mode.internals import build_headers, run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.ingress.inbox import InboxUnavailable

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk.socket_mode.client import BaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    from bot.ingress.inbox import Inbox, Receipt

__all__ = ["DEFAULT_PING_INTERVAL", "InboxSocketModeListener", "socket_mode_client"]

log = logging.getLogger(__name__)

DEFAULT_PING_INTERVAL = 10.0
"""Seconds between the client's WebSocket pings (slack_bolt's default)."""


class InboxSocketModeListener:
    """A ``SocketModeRequestListener`` that stores events in the inbox before acknowledging."""

    def __init__(self, bolt: App, inbox: Inbox) -> None:
        """Bind the Bolt app (interactions, commands) and the inbox (events).

        Args:
            bolt: The app; the inbox dispatches events to the same one.
            inbox: This replica's durable inbox.
        """
        self.bolt = bolt
        self.inbox = inbox

    def __call__(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        """Handle one envelope (called on the client's worker threads)."""
        payload = req.payload
        if req.type == "events_api" and isinstance(payload.get("event_id"), str):
            self._event(client, req)
            return
        start = time.time()
        send_response(client, req, run_bolt_app(self.bolt, req), start)

    def _event(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        # Other work holds back (briefly) until the envelope is acknowledged.
        with self.inbox.priority.acking():
            acked, receipt = self._store_and_ack(client, req)
        if not acked:
            return
        if receipt is None:
            log.info(
                "duplicate Slack event %s acknowledged and dropped (retry %s)",
                req.payload.get("event_id"),
                req.retry_attempt,
            )
            return
        try:
            self.inbox.dispatch(receipt, build_headers(req))
        except Exception:
            # The row stays pending; the sweeper replays it when its lease runs out.
            log.exception("dispatching Slack event %s failed", receipt.event_id)

    def _store_and_ack(
        self, client: BaseSocketModeClient, req: SocketModeRequest
    ) -> tuple[bool, Receipt | None]:
        """Store the event, then acknowledge its envelope; (acknowledged, receipt to dispatch)."""
        # The stored body is what the inbox re-signs and dispatches, now and on any replay.
        body = json.dumps(req.payload, separators=(",", ":"))
        try:
            receipt = self.inbox.accept(body, req.payload)
        except ValueError:  # an unusable event id: no durable copy, so Bolt's own path
            send_response(client, req, run_bolt_app(self.bolt, req), time.time())
            return False, None
        except InboxUnavailable:
            log.warning(
                "Slack event %s not stored; leaving envelope %s unacknowledged so Slack resends it",
                req.payload.get("event_id"),
                req.envelope_id,
            )
            return False, None
        try:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        except Exception:
            # Stored already: process it anyway; Slack's redelivery will be dropped as a duplicate.
            log.warning("could not acknowledge envelope %s", req.envelope_id, exc_info=True)
        return True, receipt


def socket_mode_client(
    bolt: App, inbox: Inbox, app_token: str, *, ping_interval: float = DEFAULT_PING_INTERVAL
) -> SocketModeClient:
    """A built-in Socket Mode client feeding ``bolt`` through ``inbox``; not yet connected.

    It reaches ``apps.connections.open`` through ``bolt.client`` (so ``slack.api_url`` applies)
    and reconnects by itself when Slack asks it to (``disconnect``) or the link drops.

    Args:
        bolt: The Bolt app.
        inbox: This replica's durable inbox.
        app_token: The app-level token (``xapp-…``).
        ping_interval: Seconds between WebSocket pings.
    """
    client = SocketModeClient(
        app_token=app_token,
        logger=logging.getLogger("bot.ingress.socket_mode.client"),
        web_client=bolt.client,
        ping_interval=ping_interval,
    )
    client.socket_mode_request_listeners.append(InboxSocketModeListener(bolt, inbox))
    return client
