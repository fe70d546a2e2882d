"""Votes on a consent request and the rules they obey: no self-approval (B1), only the
approver role votes (B7), the plan hash the voter saw (B2), final states stay final (B3), a
click counted once (B4); N distinct approvals approve, one reject vetoes. Refusals are returned
with the polite sentence Slack shows, never raised."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from agent.approval.records import (
    ConsentRequest,
    ConsentState,
    Refusal,
    StateChange,
    VoteKind,
    VoteOutcome,
    consent_request_table,
    consent_vote_table,
    request_from_row,
)
from agent.approval.roles import Identity, RoleMap
from agent.approval.terms import ConsentError

__all__ = ["REFUSALS", "Voting", "one_change"]


REFUSALS: dict[Refusal, str] = {
    "not_found": "I can't find that consent request.",
    "duplicate": "This vote was already counted; nothing changed.",
    "already_voted": "You have already voted on this request.",
    "final": "This request is already {state}; votes no longer change it.",
    "expired": "This request has expired, so votes no longer count; ask for a new one.",
    "self_approval": "You asked for this change, so you can't approve it yourself; "
    "another approver needs to.",
    "not_approver": "Sorry, only members of the '{role}' role can vote on this request.",
    "plan_changed": "The plan changed after this card was posted, so this vote was not "
    "counted; please review the new card.",
}
"""The polite sentence shown in Slack for each refusal."""


def one_change(change: StateChange | None) -> tuple[StateChange, ...]:
    """A move that happened as a one-item tuple, one that did not as an empty one."""
    return (change,) if change is not None else ()


class Voting:
    """:meth:`vote` and its rules, mixed into :class:`~agent.approval.ConsentBook`, which supplies
    the clock, the role map, transactions (:meth:`_tx`) and compare-and-set moves
    (:meth:`_move`)."""

    _clock: Callable[[], datetime]
    _roles: RoleMap

    def _tx(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        """The caller's connection, or a transaction of the book's own."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def _move(
        self, c: Connection, req: ConsentRequest, to: ConsentState, by: str
    ) -> StateChange | None:
        """Move ``req`` from ``open`` to ``to``; ``None`` when it had moved already."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def vote(
        self,
        request_id: int,
        voter: Identity,
        vote: VoteKind,
        plan_hash: str,
        payload_id: str,
        reason: str | None = None,
        *,
        conn: Connection | None = None,
    ) -> VoteOutcome:
        """Record ``voter``'s vote, if the rules allow it, and settle the request.

        ``voter`` must come from the signed Slack payload; ``plan_hash`` is the hash shown on
        the card the voter clicked; ``payload_id`` identifies the click (Slack retries reuse it).
        Refusals are returned, not raised: ``accepted`` is false and ``message`` says why.
        """
        if vote not in ("approve", "reject"):
            raise ConsentError(f"vote must be 'approve' or 'reject', not {vote!r}")
        with self._tx(conn) as c:
            t = consent_request_table
            # Lock the request row (Postgres; SQLite's BEGIN IMMEDIATE already serialises
            # writers) so two concurrent votes cannot both see "one short of quorum".
            row = c.execute(select(t).where(t.c.id == request_id).with_for_update()).first()
            if row is None:
                return VoteOutcome(
                    accepted=False,
                    state=None,
                    message=REFUSALS["not_found"],
                    refusal="not_found",
                )
            req = request_from_row(row)
            refusal = self._refusal(c, req, voter, vote, plan_hash, payload_id)
            if refusal is not None:
                code, changes = refusal
                state = changes[-1].to_state if changes else req.state
                message = REFUSALS[code].format(state=state, role=req.approvers)
                return self._outcome(c, req, state, message, code, changes)
            try:
                # A savepoint, so a lost race on the unique constraints leaves the caller's
                # transaction usable (Postgres would abort all of it otherwise).
                with c.begin_nested():
                    c.execute(
                        insert(consent_vote_table).values(
                            request_id=req.id,
                            voter_team=voter.team_id,
                            voter_user=voter.user_id,
                            vote=vote,
                            plan_hash=plan_hash,
                            reason=reason,
                            at=self._clock(),
                            payload_id=payload_id,
                        )
                    )
            except IntegrityError:
                message = REFUSALS["duplicate"]
                return self._outcome(c, req, req.state, message, "duplicate", ())
            if vote == "reject":
                change = self._move(c, req, "rejected", voter.key)
                who = "the requester" if voter == req.requester else f"<@{voter.user_id}>"
                message = f"Rejected by {who}; the change will not run."
                return self._outcome(c, req, "rejected", message, None, one_change(change))
            approvals = self._approvals(c, req)
            if approvals >= req.quorum:
                change = self._move(c, req, "approved", voter.key)
                message = f"Approved: {approvals} of {req.quorum} approvals reached."
                return self._outcome(c, req, "approved", message, None, one_change(change))
            message = f"Approval recorded ({approvals} of {req.quorum})."
            return self._outcome(c, req, "open", message, None, ())

    def _refusal(
        self,
        c: Connection,
        req: ConsentRequest,
        voter: Identity,
        vote: VoteKind,
        plan_hash: str,
        payload_id: str,
    ) -> tuple[Refusal, tuple[StateChange, ...]] | None:
        v = consent_vote_table
        # Order matters: a replayed click reports "already counted" even after it settled the
        # request, and a final request never reports anything but its final state.
        if c.execute(select(v.c.id).where(v.c.payload_id == payload_id)).first():
            return "duplicate", ()
        if req.final:
            return "final", ()
        if self._clock() >= req.expires_at:
            return "expired", one_change(self._move(c, req, "expired", "system:expiry"))
        is_requester = voter == req.requester
        if vote == "approve" and is_requester:
            return "self_approval", ()
        # The requester may reject (withdraw) their own request without the approver role.
        if not is_requester and not self._roles.has_role(
            voter.team_id, voter.user_id, req.approvers
        ):
            return "not_approver", ()
        if plan_hash != req.plan_hash:
            return "plan_changed", ()
        mine = (v.c.request_id == req.id, v.c.voter_team == voter.team_id)
        if c.execute(select(v.c.id).where(*mine, v.c.voter_user == voter.user_id)).first():
            return "already_voted", ()
        return None

    def _outcome(
        self,
        c: Connection,
        req: ConsentRequest,
        state: ConsentState,
        message: str,
        refusal: Refusal | None,
        changes: tuple[StateChange, ...],
    ) -> VoteOutcome:
        return VoteOutcome(
            accepted=refusal is None,
            state=state,
            message=message,
            refusal=refusal,
            approvals=self._approvals(c, req),
            quorum=req.quorum,
            changes=changes,
        )

    def _approvals(self, c: Connection, req: ConsentRequest) -> int:
        v = consent_vote_table
        voters = c.execute(
            select(v.c.voter_team, v.c.voter_user)
            .where(v.c.request_id == req.id, v.c.vote == "approve", v.c.plan_hash == req.plan_hash)
            .distinct()
        ).all()
        # Never the requester (belt and braces: their approval is refused before it is stored).
        requester = (req.requester.team_id, req.requester.user_id)
        return sum(1 for team, user in voters if (team, user) != requester)
