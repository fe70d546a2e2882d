"""Scheduled changes (RELIABILITY G4): an approved change with ``not_before`` in the future waits
in the journal as ``scheduled`` (a row: it survives restarts and any replica can take it), and
when due is re-rehearsed and policy is asked again before it may run.

- same plan and a decision no stricter than the one it got -> ``queued``, and the worker runs it;
- the plan drifted, or policy now wants consent where it allowed the change by itself ->
  ``awaiting_consent`` again, with the new plan and the difference shown;
- policy now denies it -> ``denied``.

Replicas release due changes with compare-and-set moves, so each change is released once.
:class:`Scheduling` is mixed into :class:`~agent.service.Operations`; its worker loop calls
:meth:`Scheduling.release_due` before every round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, update

from agent.approval import ConsentBook, Identity, RoleMap, VoteOutcome, consent_request_table
from agent.execution import AuditFn, Change, IllegalTransition, Journal, journal_table, parse_ref
from agent.policy import Decision, PolicyInput
from twin.graph import TwinGraph, UnknownEntity
from twin.invariants.safety import in_window, next_opening
from twin.plan import Plan, PlanDiff, diff_plans, rehearse

__all__ = ["Scheduling", "Upcoming", "coming_up", "drifted", "window_flagged", "window_start"]

log = logging.getLogger(__name__)

_STRICTNESS = {"auto": 0, "consent": 1, "deny": 2}


def window_start(graph: TwinGraph, targets: list[str], now: datetime) -> datetime:
    """When "the next maintenance window" opens for all of ``targets``' clients: ``now`` if every
    window is open, else the latest next opening among them.

    Raises:
        ValueError: a target's client has no maintenance window (or it never opens): say a time.
    """
    start = now
    for tid in targets:
        try:
            client = str(graph.get(tid).attrs.get("client") or "")
        except UnknownEntity as exc:
            raise ValueError(str(exc)) from exc
        cid = f"client:{client}"
        window = graph.get(cid).attrs.get("maintenance_window") if cid in graph else None
        if not isinstance(window, dict):
            raise ValueError(
                f"{tid} has no maintenance window on record; say when to run it (e.g. 'at 22:00')"
            )
        if in_window(window, now):
            continue
        nxt = next_opening(window, now)
        if nxt is None:
            raise ValueError(f"the maintenance window of {client} never opens")
        start = max(start, nxt)
    # In UTC: the window's own zone would be lost on a database that stores naive times.
    return start.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class Upcoming:
    """A scheduled change as App Home and the digest list it ("coming up")."""

    ref: str
    action: str
    targets: tuple[str, ...]
    not_before: datetime
    approved_by: tuple[str, ...]
    """``team:user`` of each approving vote, or ``policy`` when it needed nobody's consent."""


def coming_up(journal: Journal, consent: ConsentBook, *, limit: int = 20) -> list[Upcoming]:
    """Changes waiting for their time, soonest first, with who approved them."""
    rows = [c for c in journal.list(states=["scheduled"], limit=500) if c.not_before]
    rows.sort(key=lambda c: c.not_before or datetime.max.replace(tzinfo=UTC))
    out: list[Upcoming] = []
    for c in rows[:limit]:
        reqs = consent.for_change(str(c.id))
        who: tuple[str, ...] = ("policy",)
        if reqs and reqs[-1].state == "approved":
            req = reqs[-1]
            who = tuple(
                f"{v.voter.team_id}:{v.voter.user_id}"
                for v in consent.votes(req.id)
                if v.vote == "approve" and v.plan_hash == req.plan_hash
            )
        assert c.not_before is not None
        out.append(
            Upcoming(
                ref=c.ref,
                action=c.action,
                targets=tuple(c.targets),
                not_before=c.not_before,
                approved_by=who,
            )
        )
    return out


def window_flagged(plan: Mapping[str, Any] | None) -> bool:
    """Whether the change-window check flagged ``plan`` as outside a maintenance window (and
    only that: a freeze in force is a refusal, not something a later time fixes)."""
    for inv in (plan or {}).get("invariants", ()):
        if inv.get("id") == "change_window" and not inv.get("passed", True):
            return {v.get("severity") for v in inv.get("violations", ())} == {"needs_consent"}
    return False


def drifted(diff: PlanDiff) -> bool:
    """Whether a re-rehearsal differs in what it does or may break (an invariant that now
    passes, such as the change window having opened, is not drift)."""
    return bool(
        diff.targets_added
        or diff.targets_removed
        or diff.params_changed
        or diff.collateral_added
        or diff.collateral_changed
        or diff.new_violations
        or diff.read_set_changed
        or diff.deltas_changed
    )


class Scheduling:
    """Operations' scheduled changes: queue or schedule on approval, release when due, cancel.

    A mixin of :class:`~agent.service.Operations`, so ``now`` is the host's, read at call time.
    The host supplies :meth:`_reask` (policy's decision on a re-rehearsed plan) and
    :meth:`_announce` (a change event to subscribers).
    """

    engine: Engine
    journal: Journal
    consent: ConsentBook
    roles: RoleMap
    now: Callable[[], datetime]
    audit: AuditFn

    @property
    def graph(self) -> TwinGraph:  # pragma: no cover - the host's property
        raise NotImplementedError

    def _reask(self, change: Change, plan: Plan) -> tuple[Decision, PolicyInput]:
        """Policy's decision (with the guard rails) on ``plan`` re-rehearsed for ``change``."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def _announce(self, kind: str, change: Change, detail: dict[str, Any]) -> None:
        """Tell subscribers (the Slack bot) about a move."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def _wake_worker(self) -> None:
        """End the worker's idle wait (something was queued)."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def vote(
        self,
        change_id: int,
        voter: str,
        approve: bool,
        *,
        plan_hash: str,
        payload_id: str,
        reason: str | None = None,
        not_before: datetime | None = None,
    ) -> Any:
        """Record one signed vote (the host implements it)."""
        raise NotImplementedError  # pragma: no cover - the host implements it

    def next_window(self, change: Change) -> datetime:
        """When the next maintenance window of ``change``'s targets opens (``now`` if open).

        Raises:
            ValueError: the change-window check did not flag it, or a target's window is
                unknown (an unknown window is not a safe time to run a change).
        """
        if not window_flagged(change.plan):
            raise ValueError(
                f"{change.ref} was not flagged by the change-window check; use Approve"
            )
        targets = list((change.plan or {}).get("targets") or change.targets)
        try:
            return window_start(self.graph, targets, self.now())
        except ValueError as exc:
            raise ValueError(
                f"{change.ref} cannot be approved for the next window: {exc}. An unknown "
                "window is not a safe time; approve it now or ask again with a time"
            ) from exc

    def approve_for_window(
        self, change_id: int, voter: str, *, plan_hash: str, payload_id: str
    ) -> Any:
        """An approve vote (the same checks: role, plan hash, self-approval, quorum) that also
        holds the change until the next opening of its targets' maintenance window."""
        try:
            change = self.journal.get(change_id)
            start = self.next_window(change)
        except (KeyError, ValueError) as exc:
            return VoteOutcome(accepted=False, state=None, message=f"{str(exc).strip(chr(39))}.")
        return self.vote(
            change_id, voter, True, plan_hash=plan_hash, payload_id=payload_id, not_before=start
        )

    def _hold_until(self, change_id: int, at: datetime, actor: str, conn: Connection) -> None:
        """Move ``not_before`` later to ``at`` (never earlier), audited; the consent request's
        lifetime then counts from ``at``, as :meth:`_consent_terms` does for a time asked up
        front (an approval for Saturday's window must still hold on Saturday)."""
        t = consent_request_table
        req = conn.execute(
            select(t.c.id, t.c.created_at, t.c.expires_at)
            .where(t.c.change_id == str(change_id))
            .order_by(t.c.id.desc())
            .limit(1)
        ).first()
        if req is not None:
            created, expires = (_aware(req.created_at), _aware(req.expires_at))
            until = max(expires, at + (expires - created))
            conn.execute(update(t).where(t.c.id == req.id).values(expires_at=until))
        res = conn.execute(
            update(journal_table)
            .where(
                journal_table.c.id == change_id,
                or_(journal_table.c.not_before.is_(None), journal_table.c.not_before < at),
            )
            .values(not_before=at)
        )
        if res.rowcount:
            self.audit(
                conn,
                kind="change.not_before",
                actor=actor,
                change_id=str(change_id),
                body={"not_before": at.isoformat(), "why": "approved for the next window"},
            )

    def _queue_or_schedule(self, change_id: int, actor: str, conn: Connection) -> Change:
        """Move an approved change on: ``scheduled`` if its ``not_before`` is still ahead,
        else ``queued``."""
        nb = conn.execute(
            select(journal_table.c.not_before).where(journal_table.c.id == change_id)
        ).scalar_one()
        if nb is not None:
            nb = _aware(nb)
            if nb > self.now():
                return self.journal.move(
                    change_id,
                    "scheduled",
                    actor=actor,
                    conn=conn,
                    body={"not_before": nb.isoformat()},
                )
        return self.journal.move(change_id, "queued", actor=actor, conn=conn)

    def _consent_terms(self, decision: Decision, change: Change) -> Decision:
        """A scheduled change's consent stays open, and its approval valid, until its time plus
        the usual lifetime: approving Monday for Saturday night must still hold on Saturday."""
        ahead = (change.not_before - self.now()) if change.not_before is not None else None
        if ahead is None or ahead <= timedelta(0) or decision.expires_in is None:
            return decision
        return decision.model_copy(update={"expires_in": decision.expires_in + ahead})

    def scheduled(self) -> list[Change]:
        """Changes waiting for their time, soonest first."""
        rows = self.journal.list(states=["scheduled"], limit=500)
        far = datetime.max.replace(tzinfo=self.now().tzinfo)
        return sorted(rows, key=lambda c: c.not_before or far)

    def coming_up(self, limit: int = 20) -> list[Upcoming]:
        """Scheduled changes, soonest first, with who approved them (App Home, the digest)."""
        return coming_up(self.journal, self.consent, limit=limit)

    def release_due(self) -> list[Change]:
        """Re-rehearse and re-decide every scheduled change whose time has come."""
        now = self.now()
        out: list[Change] = []
        for change in self.scheduled():
            if change.not_before is not None and change.not_before > now:
                break
            try:
                moved, event = self._release(change)
            except IllegalTransition:
                continue  # released or cancelled meanwhile (another replica, a person)
            except Exception:
                log.exception("%s: releasing the scheduled change failed", change.ref)
                continue
            out.append(moved)
            self._announce(event[0], moved, event[1])
            if moved.state == "queued":
                self._wake_worker()
        return out

    def _release(self, change: Change) -> tuple[Change, tuple[str, dict[str, Any]]]:
        old = Plan.model_validate(change.plan) if change.plan else None
        targets = list(old.targets if old else change.targets)
        tainted = tuple(old.tainted) if old else ()
        actor = "system:schedule"
        try:
            plan = rehearse(
                self.graph,
                change.action,
                targets,
                change.params,
                reason=change.reason,
                now=self.now(),
                tainted=tainted,
            )
        except Exception as exc:  # the targets are gone or the params no longer fit
            msg = f"re-rehearsal at its scheduled time failed: {exc}"
            moved = self.journal.move(
                change.id,
                "denied",
                actor=actor,
                expect=["scheduled"],
                body={"reason": msg},
                result={"message": msg},
            )
            return moved, ("decided", {"outcome": "deny"})
        decision, pin = self._reask(change, plan)
        was = str((change.decision or {}).get("outcome", "consent"))
        diff = diff_plans(old, plan) if old is not None else None
        lines = diff.lines() if diff is not None else ["no plan was recorded"]
        drift = diff is None or drifted(diff)
        body: dict[str, Any] = {
            "outcome": decision.outcome,
            "was": was,
            "rules": list(decision.matched),
            "reasons": decision.reasons,
            "policy_hash": decision.policy_hash,
            "drift": lines if drift else [],
        }
        dec = {**decision.model_dump(mode="json"), "input": pin.to_cel()}
        if (change.decision or {}).get("break_glass"):
            dec["break_glass"] = change.decision["break_glass"]  # type: ignore[index]
        if decision.outcome == "deny":
            moved = self.journal.move(
                change.id,
                "denied",
                actor=actor,
                expect=["scheduled"],
                body=body,
                decision=dec,
                policy_hash=decision.policy_hash,
                result={"message": "; ".join(decision.reasons.values())},
            )
            return moved, ("decided", {"outcome": "deny"})
        if not drift and _STRICTNESS[decision.outcome] <= _STRICTNESS.get(was, 1):
            # The approved plan stands (same hash, so its consent stays valid), fresh again.
            assert old is not None
            kept = old.model_copy(
                update={"created_at": plan.created_at, "expires_at": plan.expires_at}
            )
            moved = self.journal.move(
                change.id,
                "queued",
                actor=actor,
                expect=["scheduled"],
                body=body,
                plan=kept.model_dump(mode="json"),
            )
            return moved, ("decided", {"outcome": "scheduled_release"})
        ask = decision if decision.outcome == "consent" else _drift_consent(decision, change)
        with self.engine.begin() as conn:
            moved = self.journal.move(
                change.id,
                "awaiting_consent",
                actor=actor,
                conn=conn,
                expect=["scheduled"],
                body=body,
                decision={**dec, **ask.model_dump(mode="json"), "drift": lines},
                plan=plan.model_dump(mode="json"),
                plan_hash=plan.hash,
                policy_hash=ask.policy_hash,
            )
            creq = self.consent.open(
                str(change.id), plan.hash, _requester(change.requester), ask, conn=conn
            )
        return moved, (
            "decided",
            {"outcome": "consent", "consent_request": creq, "drift": lines},
        )

    def cancel(self, ref: str | int, actor: str, reason: str = "") -> Change:
        """Cancel a scheduled change (one waiting for its time); audited as its move to ``stale``.

        Raises:
            KeyError: no such change.
            IllegalTransition: it is running or finished (nothing to cancel).
            PermissionError: ``actor`` is neither its requester nor an approver or admin.
        """
        change = self.journal.get(ref if isinstance(ref, int) else parse_ref(ref))
        if change.state != "scheduled":
            raise IllegalTransition(
                f"{change.ref} is {change.state.replace('_', ' ')}; only a scheduled change can "
                "be cancelled (reject one waiting for consent on its card)"
            )
        team, _, user = actor.partition(":")
        if actor != change.requester and not (
            {"approvers", "admins"} & set(self.roles.roles_for(team, user))
        ):
            raise PermissionError(
                f"only the requester of {change.ref} or an approver can cancel it"
            )
        why = reason.strip() or "no reason given"
        moved = self.journal.move(
            change.id,
            "stale",
            actor=actor,
            expect=[change.state],
            body={"cancelled": True, "reason": why},
            result={"message": f"cancelled by {actor}: {why}", "cancelled": True},
        )
        self._announce("stale", moved, {"cancelled": True, "actor": actor})
        return moved


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _requester(key: str) -> Identity:
    team, _, user = key.partition(":")
    return Identity(team_id=team or "-", user_id=user or team)


def _drift_consent(decision: Decision, change: Change) -> Decision:
    """A consent decision for a change whose plan drifted while policy would allow it."""
    prior = change.decision or {}
    why = "The plan changed between approval and its scheduled time; a person must look again."
    return decision.model_copy(
        update={
            "outcome": "consent",
            "matched": (*decision.matched, "schedule-drift"),
            "deciding": ("schedule-drift",),
            "reasons": {**decision.reasons, "schedule-drift": why},
            "approvers": prior.get("approvers") or "approvers",
            "quorum": max(1, int(prior.get("quorum") or 1)),
            "expires_in": timedelta(hours=4),
        }
    )
