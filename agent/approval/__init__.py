"""Who may approve what: the consent book and its records, roles, guard rails on autonomy."""

from __future__ import annotations

from agent.approval.consent import ConsentBook
from agent.approval.guardrails import (
    AutonomyGuards,
    Guardrails,
    autonomy_table,
    flags_table,
)
from agent.approval.records import (
    FINAL_STATES,
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
from agent.approval.roles import (
    Identity,
    RoleMap,
    RoleMapError,
    UsergroupMembers,
)
from agent.approval.terms import ConsentError

__all__ = [
    "FINAL_STATES",
    "AutonomyGuards",
    "ConsentBook",
    "ConsentError",
    "ConsentRequest",
    "ConsentState",
    "ConsentVote",
    "Guardrails",
    "Identity",
    "RecheckResult",
    "Refusal",
    "ReplanOutcome",
    "RoleMap",
    "RoleMapError",
    "StateChange",
    "UsergroupMembers",
    "VoteKind",
    "VoteOutcome",
    "autonomy_table",
    "consent_request_table",
    "consent_vote_table",
    "flags_table",
    "request_from_row",
    "vote_from_row",
]
