"""What the consent book stores: its two tables and the frozen records read back from them.

A :class:`ConsentRequest` asks for approval of one plan of one change; :class:`ConsentVote` is one
signed click on it. :class:`VoteOutcome`, :class:`ReplanOutcome`, :class:`RecheckResult` and
:class:`StateChange` are what :class:`~agent.approval.consent.ConsentBook` hands back to its
callers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from agent.approval.roles import Identity
from twin.db import metadata

__all__ = [
    "FINAL_STATES",
    "ConsentRequest",
    "ConsentState",
    "ConsentVote",
    "RecheckResult",
    "Refusal",
    "ReplanOutcome",
    "StateChange",
    "VoteKind",
    "VoteOutcome",
    "consent_request_table",
    "consent_vote_table",
    "request_from_row",
    "vote_from_row",
]

ConsentState = Literal["open", "approved", "rejected", "expired", "stale"]
FINAL_STATES: frozenset[str] = frozenset({"approved", "rejected", "expired", "stale"})
VoteKind = Literal["approve", "reject"]
Refusal = Literal[
    "not_found",
    "duplicate",
    "already_voted",
    "final",
    "expired",
    "self_approval",
    "not_approver",
    "plan_changed",
]

consent_request_table = Table(
    "consent_request",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", String(64), nullable=False),
    Column("plan_hash", String(128), nullable=False),
    Column("requester_team", String(64), nullable=False),
    Column("requester_user", String(64), nullable=False),
    Column("approvers", String(128), nullable=False),
    Column("quorum", Integer, nullable=False),
    Column("policy_hash", String(128), nullable=False, default=""),
    Column("rules", Text, nullable=False, default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decided_by", String(160), nullable=True),
    Index("ix_consent_request_change_id", "change_id"),
    # At most one open request per change, even with several replicas racing.
    Index(
        "uq_consent_request_open_change",
        "change_id",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
)

consent_vote_table = Table(
    "consent_vote",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("consent_request.id"), nullable=False),
    Column("voter_team", String(64), nullable=False),
    Column("voter_user", String(64), nullable=False),
    Column("vote", String(8), nullable=False),
    Column("plan_hash", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("payload_id", String(255), nullable=False),
    UniqueConstraint("request_id", "voter_team", "voter_user", name="uq_consent_vote_voter"),
    UniqueConstraint("payload_id", name="uq_consent_vote_payload_id"),
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsentRequest(_Record):
    """One request for approval of one plan of one change."""

    id: int
    change_id: str
    plan_hash: str
    """The plan the approvers see and vote on; votes on any other hash are refused."""
    requester: Identity
    approvers: str
    """Role whose members may vote."""
    quorum: int
    policy_hash: str
    rules: tuple[str, ...]
    """Policy rules that asked for consent (for the card)."""
    created_at: datetime
    expires_at: datetime
    state: ConsentState
    decided_at: datetime | None = None
    decided_by: str | None = None
    """``<team>:<user>`` of the deciding voter, or ``system:<why>``."""

    @property
    def final(self) -> bool:
        """Whether no vote can change this request any more."""
        return self.state in FINAL_STATES


class ConsentVote(_Record):
    """One recorded vote."""

    request_id: int
    voter: Identity
    vote: VoteKind
    plan_hash: str
    reason: str | None
    at: datetime
    payload_id: str


class StateChange(_Record):
    """What changed, for the caller's audit row (``from_state`` is ``None`` on creation)."""

    request_id: int
    change_id: str
    from_state: ConsentState | None
    to_state: ConsentState
    at: datetime
    by: str


class VoteOutcome(_Record):
    """The result of one vote: counted or refused, and why, in a sentence for Slack."""

    accepted: bool
    state: ConsentState | None
    """The request's state after the vote (``None`` if the request does not exist)."""
    message: str
    refusal: Refusal | None = None
    approvals: int = 0
    """Distinct approvals on the current plan hash after this vote."""
    quorum: int = 0
    changes: tuple[StateChange, ...] = ()


class ReplanOutcome(_Record):
    """The result of ``replan``: the request made stale (if it was open) and the new one."""

    stale: ConsentRequest | None
    opened: ConsentRequest
    changes: tuple[StateChange, ...]


class RecheckResult(_Record):
    """Whether execution may proceed on a request, and if not, why."""

    ok: bool
    reason: str


def _plain(row: Any) -> dict[str, Any]:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for k, v in row._mapping.items()
    }


def request_from_row(row: Any) -> ConsentRequest:
    """The :class:`ConsentRequest` stored in a ``consent_request`` row."""
    m = _plain(row)
    who = Identity(team_id=m.pop("requester_team"), user_id=m.pop("requester_user"))
    return ConsentRequest(requester=who, rules=tuple(json.loads(m.pop("rules"))), **m)


def vote_from_row(row: Any) -> ConsentVote:
    """The :class:`ConsentVote` stored in a ``consent_vote`` row."""
    m = _plain(row)
    m.pop("id")
    who = Identity(team_id=m.pop("voter_team"), user_id=m.pop("voter_user"))
    return ConsentVote(voter=who, **m)
