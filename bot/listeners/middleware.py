"""Cross-cutting request handling: de-duplication shared through the database, unknown events.

Slack redelivers an event when the first answer was late or failed (``X-Slack-Retry-Num``), and
an attacker may replay a captured request byte for byte inside the 5-minute signature window.
Both are caught here, before any listener runs, by inserting a key into ``slack_event``: the
event id for Events API deliveries, and the request signature for every signed request. The
insert is the lock, so several replicas sharing one database still process each request once.

Events dispatched by the durable inbox (HTTP mode, ``bot.ingress.inbox``) skip the event-id claim:
the
inbox's own insert de-duplicated them on arrival, and a replay after a replica died must run
although that replica may have claimed the id already. The inbox marks its requests in Bolt's
context, which only this process can set, never in a header an outsider could send.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import Engine

from bot.ingress import came_through_inbox
from bot.tables import claim_key

__all__ = [
    "register_fallback",
    "register_middleware",
]

log = logging.getLogger(__name__)


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name) or []
    return str(values[0]) if values else ""


def register_middleware(app: App, engine: Engine) -> None:
    """Install the de-duplication middleware and the catch-all for unknown event types."""

    @app.middleware
    def dedupe(req: BoltRequest, body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        """Each signed request and each event is processed once across retries and replicas."""
        signature = _header(req, "x-slack-signature")
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and came_through_inbox(req):
            return next()  # the inbox's insert de-duplicated it already (see module docs)
        # Slack never retries interactions or commands, so a second request with the same
        # signature is a replay. Events are keyed by event id instead: Slack's immediate retry
        # after an error may land in the same second, with the same signature.
        if signature and not event_id:
            key = "sig:" + hashlib.sha256(signature.encode()).hexdigest()[:40]
            if not claim_key(engine, key):
                log.warning("replayed Slack request ignored (same signature seen before)")
                return BoltResponse(status=200, body="")
        if event_id and not claim_key(engine, str(event_id)):
            retry = _header(req, "x-slack-retry-num") or "0"
            log.info("duplicate Slack event %s ignored (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
        return next()


def register_fallback(app: App) -> None:
    """Acknowledge event types no listener handles, so Slack does not retry them.

    Bolt answers 404 to an unhandled event, which Slack treats as a failure and redelivers;
    an event we do not act on is still received. Register this after every other listener.
    """

    @app.event(re.compile(".*"))
    def unhandled(event: dict[str, Any]) -> None:
        log.info("Slack event type %r has no handler; acknowledged and ignored", event.get("type"))
