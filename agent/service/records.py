"""What goes into and comes out of :class:`~agent.service.Operations`: a change request, the
result of proposing it, the events announced to subscribers, and the identity string."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agent.approval import Identity
from agent.execution import Change
from agent.policy import Decision
from twin.plan import Plan

__all__ = [
    "ChangeEvent",
    "ChangeRequest",
    "ProposalResult",
    "break_glass_reason",
    "identity_from_key",
    "identity_of",
]


def identity_from_key(key: str) -> Identity:
    """The :class:`~agent.approval.Identity` of an identity string (``<team_id>:<user_id>``)."""
    team, _, user = key.partition(":")
    return Identity(team_id=team or "-", user_id=user or team)


def break_glass_reason(change: Change) -> str | None:
    """The break-glass reason a change was proposed with, or ``None`` (an ordinary change)."""
    reason = (change.decision or {}).get("break_glass")
    return str(reason) if reason else None


def identity_of(team_id: str, user_id: str) -> str:
    """The one identity string opshand uses: ``<team_id>:<user_id>`` (from signed payloads)."""
    return f"{team_id}:{user_id}"


@dataclass(frozen=True)
class ChangeRequest:
    """A proposal, from a person (via the agent or a command) or from a signal's runbook."""

    action: str
    targets: list[str]
    params: dict[str, Any]
    reason: str
    requester: str
    """``<team_id>:<user_id>`` for people, ``signal:<source>`` for signals."""
    source: Literal["person", "signal"] = "person"
    channel: str = ""
    thread_ts: str = ""
    supersedes: int | None = None
    break_glass: str | None = None
    """The reason given for break-glass; needs the ``breakglass`` role."""
    request_key: str | None = None
    """What asked for it (``slack:<event id>:<n>``): the same key again returns the change it
    recorded instead of proposing a second one (a Slack event replayed after a crash)."""
    tainted: tuple[str, ...] = ()
    """Parameters whose values came from data (tool results), not the person's words."""
    not_before: datetime | None = None
    """Not to run before this time (aware): once approved it waits as ``scheduled``."""
    window: Literal["next"] | None = None
    """``"next"``: not before the targets' next maintenance window opens (resolved here)."""


@dataclass(frozen=True)
class ProposalResult:
    """What ``propose`` did: the change (if one was recorded), the plan and the decision."""

    status: Literal["auto", "consent", "deny", "error"]
    message: str
    change: Change | None = None
    plan: Plan | None = None
    decision: Decision | None = None
    consent_request: Any = None


@dataclass(frozen=True)
class ChangeEvent:
    """A state change announced to subscribers."""

    kind: Literal[
        "proposed", "decided", "vote", "started", "finished", "stale", "expired", "autonomy"
    ]
    change: Change
    detail: dict[str, Any] = field(default_factory=dict)
