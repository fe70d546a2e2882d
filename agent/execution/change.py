"""A change as the journal records it: its states, the moves between them and its id.

:class:`~agent.execution.journal.Journal` moves a change only along :data:`TRANSITIONS`.
States (ARCHITECTURE "Execution and audit")::

    proposed -> rehearsed -> denied
                          -> awaiting_consent -> approved | rejected | expired | stale
                          -> auto_approved
    approved | auto_approved -> scheduled -> queued | awaiting_consent | denied | stale
    approved | auto_approved -> queued -> executing -> succeeded -> reconciled
                                                    -> failed -> rolled_back
                                                    -> unknown -> verified | escalated
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "FINAL_STATES",
    "TRANSITIONS",
    "Change",
    "ChangeState",
    "IllegalTransition",
    "LeaseLost",
    "change_ref",
    "parse_ref",
]

ChangeState = Literal[
    "proposed",
    "rehearsed",
    "denied",
    "awaiting_consent",
    "approved",
    "rejected",
    "expired",
    "stale",
    "auto_approved",
    "scheduled",
    "queued",
    "executing",
    "succeeded",
    "reconciled",
    "failed",
    "rolled_back",
    "unknown",
    "verified",
    "escalated",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"rehearsed", "denied"}),
    "rehearsed": frozenset({"denied", "awaiting_consent", "auto_approved"}),
    "awaiting_consent": frozenset({"approved", "rejected", "expired", "stale"}),
    "approved": frozenset({"queued", "scheduled", "stale"}),
    "auto_approved": frozenset({"queued", "scheduled", "stale"}),
    # scheduled: approved, waiting for ``not_before``. When due it is re-rehearsed and policy
    # asked again: the same decision queues it, drift sends it back to consent, a denial denies
    # it; ``stale`` is a cancel (or a replacement after drift).
    "scheduled": frozenset({"queued", "awaiting_consent", "denied", "stale"}),
    "queued": frozenset({"executing", "stale", "denied"}),
    # executing -> queued: a worker hands the change back untouched (its integration's circuit
    # is open), so queued work is kept rather than failed.
    "executing": frozenset({"succeeded", "failed", "unknown", "queued"}),
    "succeeded": frozenset({"reconciled", "failed", "escalated"}),
    "failed": frozenset({"rolled_back", "escalated"}),
    "unknown": frozenset({"verified", "escalated", "failed"}),
    "verified": frozenset({"reconciled", "escalated"}),
}
FINAL_STATES = frozenset(
    {"denied", "rejected", "expired", "stale", "reconciled", "rolled_back", "escalated"}
)


class IllegalTransition(RuntimeError):
    """The change is not in a state that allows the requested move."""


class LeaseLost(IllegalTransition):
    """This worker's claim on the change ran out and another worker took it over."""


def change_ref(change_id: int) -> str:
    """The people-facing id, ``CR-42``."""
    return f"CR-{change_id}"


def parse_ref(ref: str) -> int:
    """``CR-42`` / ``cr42`` / ``42`` -> 42; ``ValueError`` otherwise."""
    s = ref.strip().upper().removeprefix("CR").lstrip("-# ")
    if not s.isdigit():
        raise ValueError(f"'{ref}' is not a change id (expected CR-<number>)")
    return int(s)


@dataclass(frozen=True)
class Change:
    """A journal row, as read."""

    id: int
    state: ChangeState
    action: str
    targets: list[str]
    params: dict[str, Any]
    reason: str
    requester: str
    source: str
    channel: str
    thread_ts: str
    plan: dict[str, Any] | None
    plan_hash: str | None
    policy_hash: str | None
    decision: dict[str, Any] | None
    result: dict[str, Any] | None
    supersedes: int | None
    created_at: datetime
    updated_at: datetime
    not_before: datetime | None = None
    """Not to run before this time (aware UTC); ``None`` = as soon as approved."""

    @property
    def ref(self) -> str:
        """``CR-<id>``."""
        return change_ref(self.id)

    @property
    def final(self) -> bool:
        """Whether the change can no longer move."""
        return self.state in FINAL_STATES
