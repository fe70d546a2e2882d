"""PSA ticket actions: comment, escalate and close. None changes the estate."""

from __future__ import annotations

from pydantic import Field

from twin.actions._base import ActionSpec, Expectation, Params, Rollback, register
from twin.fork import SetAttr
from twin.model import NodeKind

__all__ = ["CloseParams", "CommentParams", "EscalateParams"]

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
        # The PSA contract refuses to change a closed ticket's status: reopening is a person's
        # call in the PSA itself.
        rollback=lambda c, t, p: Rollback(
            None, note=f"reopen it in the PSA (it was {t.attrs.get('status') or 'open'})"
        ),
        invariants=(),
        changes_estate=False,
    )
)
