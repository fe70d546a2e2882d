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
The tables and records live in :mod:`agent.approval.records`, the request terms in
:mod:`agent.approval.terms`, votes and their rules in :mod:`agent.approval.voting`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.approval.records import (
    ConsentRequest,
    ConsentState,
    ConsentVote,
    RecheckResult,
    ReplanOutcome,
    StateChange,
    consent_request_table,
    consent_vote_table,
    request_from_row,
    vote_from_row,
)
from agent.approval.roles import Identity, RoleMap
from agent.approval.terms import ConsentError, Terms, terms_of_decision, terms_of_request
from agent.approval.voting import Voting
from agent.policy import Decision
from twin.model import utcnow

__all__ = ["ConsentBook"]


class ConsentBook(Voting):
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
        terms = terms_of_decision(decision)
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
            terms = (
                terms_of_decision(decision) if decision is not None else terms_of_request(current)
            )
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
        self, c: Connection, change_id: str, plan_hash: str, requester: Identity, terms: Terms
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
