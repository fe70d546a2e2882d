"""PSA ticket actions: comment, escalate, close and reopen. None changes the estate."""

from __future__ import annotations

from pydantic import Field

from twin.actions._base import ActionSpec, Expectation, Params, Rollback, register
from twin.fork import SetAttr
from twin.model import NodeKind

__all__ = ["CloseParams", "CommentParams", "EscalateParams", "ReopenParams"]

_TICKETS = frozenset({NodeKind.TICKET, NodeKind.INCIDENT})


class CommentParams(Params):
    """``ticket.comment`` parameters."""

    text: str = Field(min_length=1, max_length=4000)


class EscalateParams(Params):
    """``ticket.escalate`` parameters."""

    reason: str = Field(default="escalated by opshand", min_length=1, max_length=2000)


class CloseParams(Params):
    """``ticket.close`` parameters."""

    resolution: str = Field(default="resolved", min_length=1, max_length=4000)


class ReopenParams(Params):
    """``ticket.reopen`` parameters (the rollback of ``ticket.close``)."""

    status: str = Field(default="open", pattern=r"^[a-z_ -]{1,32}$")


register(
    ActionSpec(
        kind="ticket.comment",
        summary="Add a comment to a PSA ticket",
        params=CommentParams,
        target_kinds=_TICKETS,
        capability="psa.comment",
        idempotent=True,
        effects=lambda c, t, p: [],
        expect=lambda c, t, p: [Expectation(t.id, "ticket_commented")],
        rollback=lambda c, t, p: Rollback(None, note="comments are kept"),
        invariants=(),
        changes_estate=False,
    )
)
register(
    ActionSpec(
        kind="ticket.escalate",
        summary="Escalate a PSA ticket to the next tier",
        params=EscalateParams,
        target_kinds=_TICKETS,
        capability="psa.escalate",
        idempotent=True,
        effects=lambda c, t, p: [SetAttr(t.id, "escalated", True)],
        expect=lambda c, t, p: [Expectation(t.id, "ticket_escalated")],
        rollback=lambda c, t, p: Rollback(None, note="an escalation is de-escalated by a person"),
        invariants=(),
        changes_estate=False,
    )
)
register(
    ActionSpec(
        kind="ticket.close",
        summary="Close a PSA ticket with a resolution",
        params=CloseParams,
        target_kinds=_TICKETS,
        capability="psa.close",
        idempotent=True,
        effects=lambda c, t, p: [SetAttr(t.id, "status", "closed")],
        expect=lambda c, t, p: [Expectation(t.id, "ticket_status", (("status", "closed"),))],
        rollback=lambda c, t, p: Rollback(
            "ticket.reopen",
            (("status", str(t.attrs.get("status") or "open")),),
            note="reopen with the status it had",
        ),
        invariants=(),
        changes_estate=False,
    )
)
register(
    ActionSpec(
        kind="ticket.reopen",
        summary="Reopen a closed PSA ticket (the rollback of ticket.close)",
        params=ReopenParams,
        target_kinds=_TICKETS,
        capability="psa.update_status",
        idempotent=True,
        effects=lambda c, t, p: [SetAttr(t.id, "status", p.status)],
        expect=lambda c, t, p: [Expectation(t.id, "ticket_status", (("status", p.status),))],
        rollback=lambda c, t, p: Rollback("ticket.close", note="close it again"),
        invariants=(),
        changes_estate=False,
    )
)
