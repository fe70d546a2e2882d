"""Consent on a change: a signed vote (on quorum the change is queued or scheduled), the
recheck before every wave and call (consent still valid, break-glass still held, no freeze), and
the expiry of consent requests past their time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.approval import VoteOutcome
from agent.execution import Change, Refusal, change_ref
from agent.service.core import OperationsCore
from agent.service.records import ChangeEvent, break_glass_reason, identity_from_key

__all__ = ["Consenting"]


class Consenting(OperationsCore):
    """``vote``, ``recheck`` and ``expire_consents``."""

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
        """Record one signed vote; on quorum the change is queued for execution (or scheduled,
        when it has a ``not_before`` ahead; an approve vote's ``not_before`` holds it later)."""
        reqs = self.consent.for_change(str(change_id))
        if not reqs:
            return VoteOutcome(
                accepted=False,
                state=None,
                message=f"{change_ref(change_id)} is not waiting for consent.",
            )
        with self.engine.begin() as conn:
            out = self.consent.vote(
                reqs[-1].id,
                identity_from_key(voter),
                "approve" if approve else "reject",
                plan_hash,
                payload_id,
                reason,
                conn=conn,
            )
            if out.accepted and approve and not_before is not None:
                self._hold_until(change_id, not_before, voter, conn)
            if out.accepted and out.state == "approved":
                self.journal.move(
                    change_id, "approved", actor=voter, conn=conn, body={"votes": out.message}
                )
                self._queue_or_schedule(change_id, "system:consent", conn)
            elif out.accepted and out.state == "rejected":
                self.journal.move(
                    change_id,
                    "rejected",
                    actor=voter,
                    conn=conn,
                    body={"reason": reason or ""},
                    result={"message": f"rejected: {reason or 'no reason given'}"},
                )
            elif not out.accepted:
                self.audit(
                    conn,
                    kind="consent.refused",
                    actor=voter,
                    change_id=str(change_id),
                    plan_hash=plan_hash,
                    body={"message": out.message, "refusal": out.refusal},
                )
                if any(c.to_state == "expired" for c in out.changes):
                    self.journal.move(
                        change_id,
                        "expired",
                        actor="system:expiry",
                        conn=conn,
                        result={"message": "consent expired before quorum"},
                    )
        change = self.journal.get(change_id)
        self._emit(ChangeEvent("vote", change, {"outcome": out, "voter": voter}))
        if change.state == "queued":
            self._wake.set()
        return out

    def recheck(self, change: Change) -> Refusal | None:
        """Before every wave and call: consent still valid (approvers still entitled), and no
        freeze unless the change is break-glass and its requester still holds the permission.
        ``None`` when fine."""
        if change.decision and change.decision.get("outcome") == "consent":
            reqs = self.consent.for_change(str(change.id))
            if not reqs:
                return Refusal("consent", "no consent request exists for this change")
            detail = self.consent.recheck_detail(
                reqs[-1].id, change.plan_hash, policy_hash=self.policy.hash
            )
            if not detail.ok:
                return Refusal("consent", f"consent is no longer valid: {detail.reason}")
        glass = break_glass_reason(change) is not None
        if glass:
            team, _, user = change.requester.partition(":")
            if "breakglass" not in self.roles.roles_for(team, user):
                return Refusal(
                    "breakglass",
                    f"{change.requester} no longer holds the breakglass permission",
                )
        if (freeze := self.guards.flag("freeze")) is not None and not glass:
            return Refusal("freeze", f"a change freeze is in force ({freeze})")
        return None

    def expire_consents(self) -> list[Change]:
        """Expire consent requests past their expiry, and their changes."""
        out: list[Change] = []
        with self.engine.begin() as conn:
            for ch in self.consent.expire(self.now(), conn=conn):
                out.append(
                    self.journal.move(
                        int(ch.change_id),
                        "expired",
                        actor="system:expiry",
                        conn=conn,
                        result={"message": "consent expired before quorum"},
                    )
                )
        for c in out:
            self._emit(ChangeEvent("expired", c))
        return out
