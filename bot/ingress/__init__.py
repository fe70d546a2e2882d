"""How requests arrive: the HTTP server, signal webhooks and who may send them, body limits, the
management listener, Socket Mode, the durable inbox."""

from __future__ import annotations

from bot.ingress.http import (
    EVENT_WORKERS,
    MAX_BODY,
    HttpServer,
    create_http_app,
)
from bot.ingress.inbox import (
    CONTEXT_KEY,
    KEEP_DEAD,
    KEEP_DONE,
    Inbox,
    InboxState,
    InboxUnavailable,
    Receipt,
    came_through_inbox,
    delivery_attempt,
)
from bot.ingress.inbox_writer import (
    WRITE_BATCH,
    GroupWriter,
)
from bot.ingress.limits import (
    BodyLimit,
    BodyTooLarge,
    read_body,
)
from bot.ingress.management import (
    SlackCheck,
    TokenGuard,
    health_routes,
    management_app,
)
from bot.ingress.priority import (
    AckFirst,
)
from bot.ingress.signal_auth import (
    SignalGate,
    SourceIdentity,
    Unauthenticated,
    open_source_warnings,
    sign_generic,
)
from bot.ingress.socket_mode import (
    DEFAULT_PING_INTERVAL,
    InboxSocketModeListener,
    socket_mode_client,
)
from bot.ingress.sweeper import (
    InboxSweeper,
)
from bot.ingress.threaded import (
    ThreadedServer,
)
from bot.ingress.webhooks import (
    SignalHandler,
    webhook_routes,
)

__all__ = [
    "CONTEXT_KEY",
    "DEFAULT_PING_INTERVAL",
    "EVENT_WORKERS",
    "KEEP_DEAD",
    "KEEP_DONE",
    "MAX_BODY",
    "WRITE_BATCH",
    "AckFirst",
    "BodyLimit",
    "BodyTooLarge",
    "GroupWriter",
    "HttpServer",
    "Inbox",
    "InboxSocketModeListener",
    "InboxState",
    "InboxSweeper",
    "InboxUnavailable",
    "Receipt",
    "SignalGate",
    "SignalHandler",
    "SlackCheck",
    "SourceIdentity",
    "ThreadedServer",
    "TokenGuard",
    "Unauthenticated",
    "came_through_inbox",
    "create_http_app",
    "delivery_attempt",
    "health_routes",
    "management_app",
    "open_source_warnings",
    "read_body",
    "sign_generic",
    "socket_mode_client",
    "webhook_routes",
]
