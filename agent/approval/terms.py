"""The terms a consent request is opened on (approver role, quorum, policy hash, deciding rules,
lifetime), taken from policy's decision or copied from an earlier request, and the error a
caller's mistake with the consent book raises."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from agent.approval.records import ConsentRequest
from agent.policy import Decision

__all__ = ["ConsentError", "Terms", "terms_of_decision", "terms_of_request"]


class ConsentError(Exception):
    """A caller mistake with the book (no such request, opening twice, replan of a final one)."""


class Terms(BaseModel):
    """What a consent request is opened on."""

    model_config = ConfigDict(frozen=True)

    approvers: str
    quorum: int
    policy_hash: str
    rules: tuple[str, ...]
    lifetime: timedelta


def terms_of_decision(decision: Decision) -> Terms:
    """The terms policy's ``consent`` decision sets.

    Raises:
        ConsentError: the decision is not ``consent``.
    """
    if decision.outcome != "consent" or decision.approvers is None or decision.expires_in is None:
        raise ConsentError(f"policy decided {decision.outcome}; only consent opens a request")
    return Terms(
        approvers=decision.approvers,
        quorum=decision.quorum,
        policy_hash=decision.policy_hash,
        rules=decision.deciding,
        lifetime=decision.expires_in,
    )


def terms_of_request(req: ConsentRequest) -> Terms:
    """The terms ``req`` was opened on (a re-plan copies them)."""
    return Terms(
        approvers=req.approvers,
        quorum=req.quorum,
        policy_hash=req.policy_hash,
        rules=req.rules,
        lifetime=req.expires_at - req.created_at,
    )
