"""Cross-cutting request handling: de-duplication shared through the database, the replay check,
unknown events.

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

The replay check (:func:`register_replay_check`) is the one place a conversation event the inbox
dispatches again (its first holder died before marking it done) is compared with the thread: an
answer already posted for the event id (Slack message metadata) ends it before any listener runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot.ingress import came_through_inbox, delivery_attempt
from bot.listeners._shared import SlackOut
from bot.tables import claim_key

__all__ = [
    "UNREADABLE",
    "register_fallback",
    "register_middleware",
    "register_replay_check",
    "replayed_thread",
]

log = logging.getLogger(__name__)

UNREADABLE = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "thread_not_found"})
"""Slack errors that asking again will not cure: answer rather than leave the event unanswered."""


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


def replayed_thread(body: dict[str, Any]) -> tuple[str, str] | None:
    """``(channel, thread_ts)`` a conversation event would be answered in, else ``None``.

    Mentions and direct messages are answered in their thread (the message itself when it starts
    one); other messages only inside a thread.
    """
    event = body.get("event")
    if body.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    kind, channel = event.get("type"), event.get("channel")
    if kind not in ("app_mention", "message") or not isinstance(channel, str):
        return None
    own_thread = kind == "app_mention" or event.get("channel_type") == "im"
    thread = event.get("thread_ts") or (event.get("ts") if own_thread else None)
    return (channel, str(thread)) if thread else None


def register_replay_check(app: App, out: SlackOut) -> None:
    """Install the replay check: a conversation event answered before is not answered again.

    A first delivery passes without asking Slack (no extra call on the hot path). On a replay by
    the inbox the thread is read; when Slack refuses the read for good (:data:`UNREADABLE`: a
    private channel without ``groups:history``, a deleted thread) the event is answered: at
    least once rather than never. Other errors (rate limits, outages) propagate, and the inbox
    tries again later.
    """

    @app.middleware
    def skip_answered(
        body: dict[str, Any], context: BoltContext, next: Callable[[], BoltResponse]
    ) -> Any:
        event_id = str(body.get("event_id") or "")
        attempt = delivery_attempt(context)
        where = replayed_thread(body) if attempt > 1 and event_id else None
        if where is None:
            return next()
        channel, thread_ts = where
        try:
            found = out.answered(
                channel, event_id, thread_ts=thread_ts, bot_user_id=context.bot_user_id or ""
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in UNREADABLE:
                raise
            log.warning(
                "could not look for an earlier answer to Slack event %s (%s); answering",
                event_id,
                exc.response.get("error"),
            )
            return next()
        if not found:
            return next()
        log.info(
            "Slack event %s (attempt %d) was answered before; not posting it again",
            event_id,
            attempt,
        )
        return BoltResponse(status=200, body="")


def register_fallback(app: App) -> None:
    """Acknowledge event types no listener handles, so Slack does not retry them.

    Bolt answers 404 to an unhandled event, which Slack treats as a failure and redelivers;
    an event we do not act on is still received. Register this after every other listener.
    """

    @app.event(re.compile(".*"))
    def unhandled(event: dict[str, Any]) -> None:
        log.info("Slack event type %r has no handler; acknowledged and ignored", event.get("type"))
