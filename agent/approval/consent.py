"""The consent book: requests for approval, votes on them, and the rules votes obey.

Modelled on the approval systems people trust (Teleport access requests, protected branches):

* a voter is a Slack identity (team id + user id from the signed payload) mapped to roles by
  ``RoleMap``; the requester can never approve their own change (B1) and only holders of the
  request's approver role may vote (B7); the requester may reject, which withdraws the change;
* N distinct approvals on the request's plan hash approve it; one reject vetoes it;
* a vote names the plan hash the voter saw; a different hash is refused (B2), and ``replan``
  marks the open request ``stale`` (its votes no longer count) and opens a fresh one;
* ``approved``, ``rejected``, ``expired`` and ``stale`` are final (B3); a double click or a Slack
  retry is counted once (B4: unique voter per request, unique payload id);
* ``recheck`` runs at execution time and fails closed if an approver lost the role (B5).

Every method takes an optional SQLAlchemy ``Connection`` so the caller can run it inside its own
transaction and write the audit row for the returned ``StateChange`` records alongside.

The tables and records live in :mod:`agent.approval.records`; their names are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.approval.records import (
    ConsentRequest,
    ConsentState,
    ConsentVote,
    RecheckResult,
    Refusal,
    ReplanOutcome,
    StateChange,
    VoteKind,
    VoteOutcome,
    consent_request_table,
    consent_vote_table,
    request_from_row,
    vote_from_row,
)
from agent.approval.roles import Identity, RoleMap
from agent.policy import Decision
from twin.model import utcnow

__all__ = [
    "ConsentBook",
    "ConsentError",
]


class ConsentError(Exception):
    """A caller mistake with the book (no such request, opening twice, replan of a final one)."""


class ConsentBook:
    """Persisted consent requests and votes.

    Args:
        engine: Where the ``consent_*`` tables live (created by the caller's ``create_all``).
        roles: Who holds which role, consulted on every vote and at ``recheck``.
        clock: Source of "now" (timezone-aware UTC).
    """

    def __init__(
        self, engine: Engine, roles: RoleMap, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._engine = engine
        self._roles = roles
        self._clock = clock

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self._engine.begin() as own:
            yield own

    # ------------------------------------------------------------------ reading

    def get(self, request_id: int, *, conn: Connection | None = None) -> ConsentRequest | None:
        """The request with ``request_id``, or ``None``."""
        with self._tx(conn) as c:
            row = c.execute(
                select(consent_request_table).where(consent_request_table.c.id == request_id)
            ).first()
        return request_from_row(row) if row is not None else None

    def for_change(self, change_id: str, *, conn: Connection | None = None) -> list[ConsentRequest]:
        """Every request of ``change_id``, oldest first (the last one is current)."""
        t = consent_request_table
        with self._tx(conn) as c:
            rows = c.execute(select(t).where(t.c.change_id == change_id).order_by(t.c.id)).all()
        return [request_from_row(r) for r in rows]

    def votes(self, request_id: int, *, conn: Connection | None = None) -> list[ConsentVote]:
        """Every vote recorded on ``request_id``, in order."""
        t = consent_vote_table
        with self._tx(conn) as c:
            rows = c.execute(select(t).where(t.c.request_id == request_id).order_by(t.c.id)).all()
        return [vote_from_row(r) for r in rows]

    # ------------------------------------------------------------------ opening, plan changes

    def open(
        self,
        change_id: str,
        plan_hash: str,
        requester: Identity,
        decision: Decision,
        *,
        conn: Connection | None = None,
    ) -> ConsentRequest:
        """Open a request for ``plan_hash`` of ``change_id`` as ``decision`` prescribes.

        Raises:
            ConsentError: the decision is not ``consent``, or the change already has an open
                request (use ``replan`` when the plan changed).
        """
        terms = _terms(decision)
        with self._tx(conn) as c:
            t = consent_request_table
            if c.execute(
                select(t.c.id).where(t.c.change_id == change_id, t.c.state == "open")
            ).first():
                raise ConsentError(f"change {change_id} already has an open request; use replan")
            return self._insert(c, change_id, plan_hash, requester, terms)

    def replan(
        self,
        change_id: str,
        new_plan_hash: str,
        *,
        decision: Decision | None = None,
        by: str = "system:replan",
        conn: Connection | None = None,
    ) -> ReplanOutcome:
        """The plan of ``change_id`` changed: earlier votes stop counting, a new request opens.

        The current request, if open, becomes ``stale``; if already approved it stays approved
        but is superseded, so ``recheck`` on it fails. The new request keeps the requester and
        copies the approval terms unless a fresh policy ``decision`` is given.

        Raises:
            ConsentError: no request for the change, the current one is rejected or expired,
                the hash did not change, or ``decision`` is not consent.
        """
        with self._tx(conn) as c:
            t = consent_request_table
            row = c.execute(
                select(t).where(t.c.change_id == change_id).order_by(t.c.id.desc()).limit(1)
            ).first()
            if row is None:
                raise ConsentError(f"change {change_id} has no consent request to re-plan")
            current = request_from_row(row)
            if current.state in ("rejected", "expired"):
                raise ConsentError(f"change {change_id} was {current.state}; it cannot re-plan")
            if current.plan_hash == new_plan_hash:
                raise ConsentError(f"change {change_id}: the plan hash did not change")
            terms = _terms(decision) if decision is not None else _terms_of(current)
            changes: list[StateChange] = []
            stale: ConsentRequest | None = None
            if current.state == "open":
                change = self._move(c, current, "stale", by)
                if change is None:
                    raise ConsentError(f"change {change_id}: the request moved meanwhile; retry")
                changes.append(change)
                stale = current.model_copy(update={"state": "stale"})
            opened = self._insert(c, change_id, new_plan_hash, current.requester, terms)
            changes.append(
                StateChange(
                    request_id=opened.id,
                    change_id=change_id,
                    from_state=None,
                    to_state="open",
                    at=opened.created_at,
                    by=by,
                )
            )
            return ReplanOutcome(stale=stale, opened=opened, changes=tuple(changes))

    def expire(
        self, now: datetime | None = None, *, conn: Connection | None = None
    ) -> list[StateChange]:
        """Move every open request whose expiry has passed to ``expired``."""
        at = now or self._clock()
        t = consent_request_table
        with self._tx(conn) as c:
            rows = c.execute(
                select(t).where(t.c.state == "open", t.c.expires_at <= at).with_for_update()
            ).all()
            changes = [self._move(c, request_from_row(r), "expired", "system:expiry") for r in rows]
        return [ch for ch in changes if ch is not None]

    def _insert(
        self, c: Connection, change_id: str, plan_hash: str, requester: Identity, terms: _Terms
    ) -> ConsentRequest:
        now = self._clock()
        t = consent_request_table
        values = {
            "change_id": change_id,
            "plan_hash": plan_hash,
            "requester_team": requester.team_id,
            "requester_user": requester.user_id,
            "approvers": terms.approvers,
            "quorum": terms.quorum,
            "policy_hash": terms.policy_hash,
            "rules": json.dumps(list(terms.rules)),
            "created_at": now,
            "expires_at": now + terms.lifetime,
            "state": "open",
        }
        try:
            # Another replica may open the same change at the same moment: the partial unique
            # index refuses the second; the savepoint keeps the caller's transaction usable.
            with c.begin_nested():
                new_id = c.execute(insert(t).values(**values)).inserted_primary_key
        except IntegrityError as exc:
            raise ConsentError(f"change {change_id} already has an open request") from exc
        assert new_id is not None
        return request_from_row(c.execute(select(t).where(t.c.id == new_id[0])).one())

    def _move(
        self, c: Connection, req: ConsentRequest, to: ConsentState, by: str
    ) -> StateChange | None:
        # Compare-and-set from open: a final state is never overwritten, even by a racing replica.
        now = self._clock()
        t = consent_request_table
        moved = c.execute(
            update(t)
            .where(t.c.id == req.id, t.c.state == "open")
            .values(state=to, decided_at=now, decided_by=by)
        ).rowcount
        if moved != 1:
            return None
        return StateChange(
            request_id=req.id,
            change_id=req.change_id,
            from_state="open",
            to_state=to,
            at=now,
            by=by,
        )

    # ------------------------------------------------------------------ voting

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
                    message=_REFUSALS["not_found"],
                    refusal="not_found",
                )
            req = request_from_row(row)
            refusal = self._refusal(c, req, voter, vote, plan_hash, payload_id)
            if refusal is not None:
                code, changes = refusal
                state = changes[-1].to_state if changes else req.state
                message = _REFUSALS[code].format(state=state, role=req.approvers)
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
                message = _REFUSALS["duplicate"]
                return self._outcome(c, req, req.state, message, "duplicate", ())
            if vote == "reject":
                change = self._move(c, req, "rejected", voter.key)
                who = "the requester" if voter == req.requester else f"<@{voter.user_id}>"
                message = f"Rejected by {who}; the change will not run."
                return self._outcome(c, req, "rejected", message, None, _one(change))
            approvals = self._approvals(c, req)
            if approvals >= req.quorum:
                change = self._move(c, req, "approved", voter.key)
                message = f"Approved: {approvals} of {req.quorum} approvals reached."
                return self._outcome(c, req, "approved", message, None, _one(change))
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
            return "expired", _one(self._move(c, req, "expired", "system:expiry"))
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

    # ------------------------------------------------------------------ execution-time check

    def recheck(
        self,
        request_id: int,
        plan_hash: str | None = None,
        *,
        policy_hash: str | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Whether execution may proceed on ``request_id`` (see ``recheck_detail``)."""
        return self.recheck_detail(request_id, plan_hash, policy_hash=policy_hash, conn=conn).ok

    def recheck_detail(
        self,
        request_id: int,
        plan_hash: str | None = None,
        *,
        policy_hash: str | None = None,
        conn: Connection | None = None,
    ) -> RecheckResult:
        """Re-check an approval at execution time; fail closed on any doubt.

        Passes only if the request is approved, is its change's current request, has not
        expired, matches ``plan_hash`` and ``policy_hash`` (when given: a policy edited since the
        vote makes it stale, B2), has no reject, and still has a quorum of
        distinct approvals from non-requesters who hold the approver role *now* (B5).
        """

        def no(reason: str) -> RecheckResult:
            return RecheckResult(ok=False, reason=reason)

        with self._tx(conn) as c:
            req = self.get(request_id, conn=c)
            if req is None:
                return no("no such consent request")
            if req.state != "approved":
                return no(f"the request is {req.state}, not approved")
            t = consent_request_table
            latest = c.execute(
                select(func.max(t.c.id)).where(t.c.change_id == req.change_id)
            ).scalar_one()
            if latest != req.id:
                return no("the plan changed after approval")
            if plan_hash is not None and plan_hash != req.plan_hash:
                return no("the plan hash differs from the approved one")
            if policy_hash is not None and policy_hash != req.policy_hash:
                return no("the policy changed after approval")
            if self._clock() >= req.expires_at:
                return no("the approval has expired")
            votes = self.votes(req.id, conn=c)
        if any(vote.vote == "reject" for vote in votes):
            return no("the request has a reject vote")
        approvers = {v.voter for v in votes if v.vote == "approve" and v.plan_hash == req.plan_hash}
        if req.requester in approvers:
            return no("the requester approved their own change")
        for voter in sorted(approvers, key=lambda i: i.key):
            if not self._roles.has_role(voter.team_id, voter.user_id, req.approvers):
                return no(f"{voter.key} no longer holds the '{req.approvers}' role")
        if len(approvers) < req.quorum:
            return no("fewer approvals than the quorum")
        return RecheckResult(ok=True, reason="approved; every approver still holds the role")


_REFUSALS: dict[Refusal, str] = {
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


def _one(change: StateChange | None) -> tuple[StateChange, ...]:
    return (change,) if change is not None else ()


class _Terms(BaseModel):
    model_config = ConfigDict(frozen=True)

    approvers: str
    quorum: int
    policy_hash: str
    rules: tuple[str, ...]
    lifetime: timedelta


def _terms(decision: Decision) -> _Terms:
    if decision.outcome != "consent" or decision.approvers is None or decision.expires_in is None:
        raise ConsentError(f"policy decided {decision.outcome}; only consent opens a request")
    return _Terms(
        approvers=decision.approvers,
        quorum=decision.quorum,
        policy_hash=decision.policy_hash,
        rules=decision.deciding,
        lifetime=decision.expires_in,
    )


def _terms_of(req: ConsentRequest) -> _Terms:
    return _Terms(
        approvers=req.approvers,
        quorum=req.quorum,
        policy_hash=req.policy_hash,
        rules=req.rules,
        lifetime=req.expires_at - req.created_at,
    )
