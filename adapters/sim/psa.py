"""The sim's PSA: tickets with comments, status, escalation and closing.

Tickets live in the estate's memory and, once opened or changed, in its call store too: replicas
sharing a :class:`~adapters.sim.sqlite_store.SqliteCallStore` then number tickets from one
sequence and see each other's tickets, comments and closes (the store's copy wins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from adapters.contracts import Ticket
from adapters.errors import AdapterError, NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule
from adapters.sim.state import TicketState

__all__ = ["SimPsa"]

_PRIORITIES = ("low", "medium", "high", "critical")
_KIND = "ticket"
"""The kind of the shared objects holding tickets in the call store."""
_FIRST_NUMBER = 1000
"""Ticket numbers start after ``TCK-1000`` plus the tickets the estate was built with."""


def _state(t: Ticket) -> TicketState:
    # The shared copy is the contract record; the sim keeps the same fields, comments mutable.
    return TicketState(**{**t.model_dump(), "comments": list(t.comments)})


def _number_value(number: str) -> int:
    tail = number.removeprefix("TCK-")
    return int(tail) if tail.isdigit() else 0


class SimPsa:
    """:class:`~adapters.contracts.PsaContract` over a :class:`SimCore`."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    @staticmethod
    def _view(t: TicketState) -> Ticket:
        return Ticket(**{**dataclasses.asdict(t), "comments": tuple(t.comments)})

    def _ticket(self, ticket_id: str, call: str) -> TicketState:
        shared = self._core.calls.store.load_object(_KIND, ticket_id)
        if isinstance(shared, Ticket):  # opened or changed, perhaps by another process
            self._core.tickets[ticket_id] = _state(shared)
        t = self._core.tickets.get(ticket_id)
        if t is None:
            raise NotFound(f"no ticket {ticket_id!r}", integration="sim-psa", call=call)
        return t

    def _sync_all(self) -> None:
        for shared in self._core.calls.store.objects(_KIND):
            if isinstance(shared, Ticket):
                self._core.tickets[shared.ticket_id] = _state(shared)

    def _save(self, t: TicketState) -> Ticket:
        view = self._view(t)
        self._core.calls.store.save_object(_KIND, t.ticket_id, view)
        return view

    def get_ticket(self, ticket_id: str) -> Ticket:
        """One ticket by id."""

        def act(_: list[FaultRule], now: datetime) -> Ticket:
            return self._view(self._ticket(ticket_id, "get_ticket"))

        return self._core.call(
            "psa", "get_ticket", target=ticket_id, args={"ticket_id": ticket_id}, act=act
        )

    def list_tickets(self) -> list[Ticket]:
        """Every ticket (beyond the contract, like ``ServiceNowClient.list_tickets``: a sync
        uses it when the PSA offers a listing)."""

        def act(_: list[FaultRule], now: datetime) -> list[Ticket]:
            self._sync_all()
            return [self._view(t) for t in self._core.tickets.values()]

        return self._core.call("psa", "list_tickets", target=None, args={}, act=act)

    def create_ticket(
        self, title: str, description: str, *, priority: str, idempotency_key: str
    ) -> Ticket:
        """Open a new ticket numbered after the highest existing one."""
        core = self._core
        store = core.calls.store

        def act(_: list[FaultRule], now: datetime) -> Ticket:
            if not title.strip():
                raise AdapterError("title is empty", integration="sim-psa", call="create_ticket")
            if priority not in _PRIORITIES:
                raise AdapterError(
                    f"priority {priority!r} is not one of {', '.join(_PRIORITIES)}",
                    integration="sim-psa",
                    call="create_ticket",
                )
            # Ids and numbers come from the store's sequences, so processes sharing it never
            # hand out the same one; "after" skips the numbers of the estate's own tickets.
            self._sync_all()
            taken = max((_number_value(t.number) for t in core.tickets.values()), default=0)
            number = store.next_number("TCK", after=max(taken, _FIRST_NUMBER + len(core.tickets)))
            ticket_id = f"tk-{store.next_number('tk'):05d}"
            while ticket_id in core.tickets:  # an estate ticket already has that id
                ticket_id = f"tk-{store.next_number('tk'):05d}"
            ticket = TicketState(
                ticket_id=ticket_id,
                number=f"TCK-{number}",
                title=title,
                description=description,
                priority=priority,
            )
            core.tickets[ticket.ticket_id] = ticket
            return self._save(ticket)

        return core.call(
            "psa",
            "create_ticket",
            target=None,
            args={"title": title, "description": description, "priority": priority},
            key=idempotency_key,
            act=act,
        )

    def comment(self, ticket_id: str, text: str, *, idempotency_key: str) -> Ticket:
        """Add a comment."""
        return self._change(
            "comment", ticket_id, {"text": text}, idempotency_key, lambda t: t.comments.append(text)
        )

    def update_status(self, ticket_id: str, status: str, *, idempotency_key: str) -> Ticket:
        """Set the status (``new``, ``in_progress``, ``waiting`` ...)."""

        def set_status(t: TicketState) -> None:
            if t.status == "closed":
                raise AdapterError(
                    f"ticket {t.number} is closed", integration="sim-psa", call="update_status"
                )
            t.status = status

        return self._change(
            "update_status", ticket_id, {"status": status}, idempotency_key, set_status
        )

    def escalate(self, ticket_id: str, reason: str, *, idempotency_key: str) -> Ticket:
        """Mark the ticket escalated, with the reason as a comment."""

        def escalate(t: TicketState) -> None:
            t.escalated = True
            t.comments.append(f"Escalated: {reason}")

        return self._change("escalate", ticket_id, {"reason": reason}, idempotency_key, escalate)

    def close(self, ticket_id: str, resolution: str, *, idempotency_key: str) -> Ticket:
        """Close the ticket with a resolution comment."""

        def close(t: TicketState) -> None:
            t.status = "closed"
            t.comments.append(f"Resolution: {resolution}")

        return self._change("close", ticket_id, {"resolution": resolution}, idempotency_key, close)

    def _change(
        self,
        method: str,
        ticket_id: str,
        extra: dict[str, str],
        key: str,
        change: Callable[[TicketState], None],
    ) -> Ticket:
        def act(_: list[FaultRule], now: datetime) -> Ticket:
            # Keyed calls run under the store's write lock: read, change and save are one step.
            t = self._ticket(ticket_id, method)
            change(t)
            return self._save(t)

        return self._core.call(
            "psa",
            method,
            target=ticket_id,
            args={"ticket_id": ticket_id, **extra},
            key=key,
            act=act,
        )
