"""The offline model: a deterministic parser from chat requests to tool calls, and back to prose.

It needs no network and no weights. :func:`parse` turns one human message into tool calls (with
entity mentions resolved against the twin by :class:`TwinNameResolver`), a question back, or the
help text; :func:`compose_answer` turns structured tool results into short plain sentences.
"""

from __future__ import annotations

from agent.offline.compose import compose_answer
from agent.offline.messages import HELP_TEXT, NOT_UNDERSTOOD
from agent.offline.parser import MAX_REQUEST_CHARS, parse
from agent.offline.proposal import ACTION_KINDS, MULTI_TARGET_ACTIONS
from agent.offline.resolver import TwinNameResolver
from agent.offline.types import (
    Candidate,
    ConversationContext,
    EntityResolver,
    Intent,
    ParseResult,
    Resolution,
    RoleAwareResolver,
    ToolCall,
    ToolOutcome,
    Unresolved,
)

__all__ = [
    "ACTION_KINDS",
    "HELP_TEXT",
    "MAX_REQUEST_CHARS",
    "MULTI_TARGET_ACTIONS",
    "NOT_UNDERSTOOD",
    "Candidate",
    "ConversationContext",
    "EntityResolver",
    "Intent",
    "ParseResult",
    "Resolution",
    "RoleAwareResolver",
    "ToolCall",
    "ToolOutcome",
    "TwinNameResolver",
    "Unresolved",
    "compose_answer",
    "parse",
]
