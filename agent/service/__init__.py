"""The operations facade: :class:`Operations`, what the bot, the CLI and the agent's tools call,
and the records that go in and out of it."""

from __future__ import annotations

from agent.service.operations import Operations
from agent.service.records import (
    ChangeEvent,
    ChangeRequest,
    ProposalResult,
    break_glass_reason,
    identity_of,
)

__all__ = [
    "ChangeEvent",
    "ChangeRequest",
    "Operations",
    "ProposalResult",
    "break_glass_reason",
    "identity_of",
]
