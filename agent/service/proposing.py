"""Proposing a change: record it, rehearse it, let policy (and the guard rails) decide, and
open consent or queue it; nothing the model says can alter this. Also a request proposed again
(same key), and replanning a change whose plan went stale."""

from __future__ import annotations

from collections.abc import Iterable

from agent.execution import Change, DuplicateRequest
from agent.policy import Decision
from agent.schedule import window_start
from agent.service.inputs import PolicyInputs
from agent.service.records import (
    ChangeEvent,
    ChangeRequest,
    ProposalResult,
    break_glass_reason,
    identity_from_key,
)
from twin.actions import InvalidParams, get_action
from twin.graph import UnknownEntity
from twin.plan import Plan, diff_plans, rehearse

__all__ = ["Proposing"]


class Proposing(PolicyInputs):
    """``propose`` and ``replan``: the deterministic part of the loop up to the queue."""

    def propose(self, req: ChangeRequest) -> ProposalResult:
        """Record, rehearse and decide a change. Never executes anything itself."""
        try:
            spec = get_action(req.action)
            spec.parse_params(req.params)
        except (KeyError, InvalidParams) as exc:
            return ProposalResult("error", str(exc).strip("'\""))
        if req.break_glass is not None and (
            refusal := self.guards.check_break_glass(
                requester=req.requester,
                action=req.action,
                targets=req.targets,
                reason=req.break_glass,
            )
        ):
            return ProposalResult("error", refusal)
        not_before = req.not_before
        if not_before is not None and not_before.tzinfo is None:
            return ProposalResult("error", "not_before must carry a time zone (ISO 8601, e.g. Z)")
        if req.window == "next":
            try:
                start = window_start(self.graph, req.targets, self.now())
            except ValueError as exc:
                return ProposalResult("error", str(exc))
            not_before = max(start, not_before) if not_before is not None else start
        try:
            change = self.journal.create(
                action=req.action,
                targets=req.targets,
                params=req.params,
                reason=req.reason,
                requester=req.requester,
                source=req.source,
                channel=req.channel,
                thread_ts=req.thread_ts,
                supersedes=req.supersedes,
                request_key=req.request_key,
                not_before=not_before,
            )
        except DuplicateRequest as dup:
            return self._recorded_before(dup.change)
        if req.break_glass is not None:
            self.guards.break_glass_used(change, req.break_glass)
        self._emit(ChangeEvent("proposed", change))
        try:
            plan = rehearse(
                self.graph,
                req.action,
                req.targets,
                req.params,
                reason=req.reason,
                now=self.now(),
                tainted=req.tainted,
            )
        except (UnknownEntity, InvalidParams) as exc:
            msg = str(exc)
            change = self.journal.move(
                change.id,
                "denied",
                actor="system:rehearsal",
                body={"reason": msg},
                result={"message": msg},
            )
            self._emit(ChangeEvent("decided", change, {"outcome": "deny"}))
            return ProposalResult("error", msg, change)
        change = self.journal.move(
            change.id,
            "rehearsed",
            actor="system:rehearsal",
            body={
                "plan_hash": plan.hash,
                "collateral": len(plan.collateral),
                "invariants": plan.invariant_summary(),
            },
            plan=plan.model_dump(mode="json"),
            plan_hash=plan.hash,
        )
        pin = self._policy_input(req, plan, change.id)
        decision = self.guards.apply(self.policy.decide(pin), req.action)
        body = {
            "outcome": decision.outcome,
            "rules": list(decision.matched),
            "reasons": decision.reasons,
            "policy_hash": decision.policy_hash,
            "input": pin.to_cel(),
        }
        dec = {**decision.model_dump(mode="json"), "input": pin.to_cel()}
        if req.break_glass:
            # Carried by the change: the freeze check before every wave lets it through while
            # its requester still holds the breakglass permission.
            dec["break_glass"] = req.break_glass
        consent_req = None
        if decision.outcome == "deny":
            change = self.journal.move(
                change.id,
                "denied",
                actor="system:policy",
                body=body,
                decision=dec,
                policy_hash=decision.policy_hash,
                result={"message": _bullets(decision.reasons.values())},
            )
        elif decision.outcome == "consent":
            with self.engine.begin() as conn:
                change = self.journal.move(
                    change.id,
                    "awaiting_consent",
                    actor="system:policy",
                    body=body,
                    decision=dec,
                    conn=conn,
                    policy_hash=decision.policy_hash,
                )
                consent_req = self.consent.open(
                    str(change.id),
                    plan.hash,
                    identity_from_key(req.requester),
                    self._consent_terms(decision, change),
                    conn=conn,
                )
        else:
            with self.engine.begin() as conn:
                self.journal.move(
                    change.id,
                    "auto_approved",
                    actor="system:policy",
                    body=body,
                    decision=dec,
                    conn=conn,
                    policy_hash=decision.policy_hash,
                )
                change = self._queue_or_schedule(change.id, "system:policy", conn)
            self.guards.note_auto(change)
            if change.state == "queued":
                self._wake.set()
        if req.break_glass:
            self._emit(ChangeEvent("autonomy", change, {"breakglass": req.break_glass}))
        self._emit(
            ChangeEvent(
                "decided", change, {"outcome": decision.outcome, "consent_request": consent_req}
            )
        )
        status = decision.outcome
        message = {
            "deny": "Refused by policy:\n" + _bullets(decision.reasons.values()),
            "consent": f"Needs consent: {decision.quorum} of {decision.approvers}.",
            "auto": "Policy allows it to run now."
            if change.state != "scheduled"
            else "Policy allows it; it waits for its scheduled time.",
        }[status]
        return ProposalResult(status, message, change, plan, decision, consent_req)

    def _recorded_before(self, change: Change) -> ProposalResult:
        """The result of a request proposed again: what its change became, nothing new."""
        stored = dict(change.decision or {})
        stored.pop("input", None)
        stored.pop("break_glass", None)
        decision = Decision.model_validate(stored) if stored else None
        plan = Plan.model_validate(change.plan) if change.plan else None
        state = change.state.replace("_", " ")
        if decision is None:
            # The first attempt stopped between recording and deciding (a crash): say so
            # rather than guess; asking again proposes it anew under a new key.
            return ProposalResult(
                "error",
                f"{change.ref} was recorded for this request but never decided "
                f"(it is {state}); ask again to propose it anew.",
                change,
                plan,
            )
        return ProposalResult(
            decision.outcome,
            f"{change.ref} was already recorded for this request; it is {state}.",
            change,
            plan,
            decision,
        )

    def replan(self, change: Change) -> ProposalResult | None:
        """Re-rehearse a change whose plan went stale, as a new change that supersedes it.

        The new plan goes through policy (and consent) again; subscribers get a ``stale`` event
        carrying the replacement and what changed between the two plans.
        """
        depth, cur = 0, change
        while cur.supersedes is not None and depth < 3:
            cur = self.journal.get(cur.supersedes)
            depth += 1
        if depth >= 3 or change.plan is None:
            return None  # the estate keeps moving under this change: leave it to people
        old = Plan.model_validate(change.plan)
        res = self.propose(
            ChangeRequest(
                action=change.action,
                targets=old.targets,
                params=change.params,
                reason=change.reason,
                requester=change.requester,
                source="signal" if change.source == "signal" else "person",
                channel=change.channel,
                thread_ts=change.thread_ts,
                supersedes=change.id,
                break_glass=break_glass_reason(change),
            )
        )
        diff = diff_plans(old, res.plan).lines() if res.plan is not None else []
        self._emit(
            ChangeEvent(
                "stale", change, {"replacement": res.change, "diff": diff, "outcome": res.status}
            )
        )
        return res


def _bullets(reasons: Iterable[str]) -> str:
    """Policy's reasons as "• reason" lines (never glued with "; ")."""
    return "\n".join(f"• {r.strip().rstrip('.;')}." for r in reasons if r.strip())
