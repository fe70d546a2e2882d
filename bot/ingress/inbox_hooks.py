"""Bolt's side of the durable inbox: the ticket that travels with a dispatched event.

Bolt runs an event's listener on its executor after the request was answered, so
``App.dispatch`` returning says nothing about the listener. Each dispatch made by an
:class:`~bot.ingress.inbox.Inbox` carries a :class:`Ticket` in the Bolt context; hooks on
Bolt's listener runner settle it when the listener returns or raises, and the inbox then marks
the row ``done`` or records the error. Listeners read the ticket through
:func:`came_through_inbox` and :func:`delivery_attempt`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.listener.listener_completion_handler import ListenerCompletionHandler
from slack_bolt.listener.listener_error_handler import ListenerErrorHandler

__all__ = [
    "CONTEXT_KEY",
    "Outcomes",
    "Receipt",
    "Ticket",
    "came_through_inbox",
    "delivery_attempt",
    "event_type",
    "install_hooks",
]

CONTEXT_KEY = "opshand_inbox"
"""Bolt context key carrying the inbox's ticket. A context entry, not a header: only code in
this process can set it, while a header could be sent by anyone who can reach the URL."""


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """An event held under this replica's lease, ready to dispatch."""

    event_id: str
    event_type: str
    body: str
    """The raw JSON body exactly as Slack signed it."""
    attempt: int
    """1 for the first delivery; higher for replays."""


def came_through_inbox(req: BoltRequest) -> bool:
    """Whether this Bolt request was dispatched by an :class:`Inbox` (already de-duplicated)."""
    return isinstance(req.context.get(CONTEXT_KEY), Ticket)


def delivery_attempt(context: Mapping[str, Any]) -> int:
    """The inbox's attempt number for the event being handled: 1 first, higher on a replay.

    Args:
        context: The Bolt context a listener receives (the inbox's ticket is in it).

    Returns:
        The attempt; 1 for requests that did not come through an inbox (nothing to replay).
    """
    ticket = context.get(CONTEXT_KEY)
    return ticket.receipt.attempt if isinstance(ticket, Ticket) else 1


def event_type(payload: Mapping[str, Any]) -> str:
    event = payload.get("event")
    kind = event.get("type") if isinstance(event, dict) else None
    return str(kind or "unknown")[:64]


class Outcomes(Protocol):
    """Where a settled ticket goes (the :class:`~bot.ingress.inbox.Inbox` that dispatched it)."""

    def record_outcome(self, ticket: Ticket, error: BaseException | None) -> None:
        """Mark the event done, or record its error."""


@dataclass(eq=False)
class Ticket:
    """One dispatch in flight; settled once, by whichever of Bolt's paths ends it."""

    inbox: Outcomes
    receipt: Receipt
    error: BaseException | None = None
    _settled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def settle(self, error: BaseException | None) -> None:
        with self._lock:
            if self._settled:
                return
            self._settled = True
        self.inbox.record_outcome(self, error)


class _ErrorHook(ListenerErrorHandler):
    """Remembers a listener's exception on its ticket, then lets Bolt's handler log it."""

    def __init__(self, inner: ListenerErrorHandler) -> None:
        self.inner = inner

    def handle(self, error: Exception, request: BoltRequest, response: BoltResponse | None) -> None:
        ticket = request.context.get(CONTEXT_KEY)
        if isinstance(ticket, Ticket):
            ticket.error = error
        self.inner.handle(error=error, request=request, response=response)


class _CompletionHook(ListenerCompletionHandler):
    """Settles the ticket when the listener returned (or raised)."""

    def __init__(self, inner: ListenerCompletionHandler) -> None:
        self.inner = inner

    def handle(self, request: BoltRequest, response: BoltResponse | None) -> None:
        try:
            self.inner.handle(request=request, response=response)
        finally:
            ticket = request.context.get(CONTEXT_KEY)
            if isinstance(ticket, Ticket):
                ticket.settle(ticket.error)


def install_hooks(bolt: App) -> None:
    # Bolt runs event listeners on its executor after acknowledging them, so dispatch()
    # returning says nothing about the listener; its runner's handlers do. Installed once per
    # app (the ticket names its inbox). ``App.error`` called later would replace the error hook.
    runner = bolt.listener_runner
    if not isinstance(runner.listener_error_handler, _ErrorHook):
        runner.listener_error_handler = _ErrorHook(runner.listener_error_handler)
    if not isinstance(runner.listener_completion_handler, _CompletionHook):
        runner.listener_completion_handler = _CompletionHook(runner.listener_completion_handler)
