"""The offline model: a deterministic parser from chat requests to tool calls, and back to prose.

It needs no network and no weights. :func:`parse` turns one human message into tool calls (with
entity mentions resolved against the twin by :class:`TwinNameResolver`), a question back, or the
help text; :func:`compose_answer` turns structured tool results into short plain sentences.
"""

from __future__ import annotations

from agent.chat.offline.compose import compose_answer
from agent.chat.offline.messages import HELP_TEXT, NOT_UNDERSTOOD
from agent.chat.offline.model import DATA_TAG, HUMAN_TAG, OfflineChatModel, unwrap_data
from agent.chat.offline.parser import MAX_REQUEST_CHARS, parse
from agent.chat.offline.proposal import ACTION_KINDS, MULTI_TARGET_ACTIONS
from agent.chat.offline.resolver import TwinNameResolver
from agent.chat.offline.types import (
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
from agent.chat.offline.when import When, WhenError, parse_when, when_text

__all__ = [
    "ACTION_KINDS",
    "DATA_TAG",
    "HELP_TEXT",
    "HUMAN_TAG",
    "MAX_REQUEST_CHARS",
    "MULTI_TARGET_ACTIONS",
    "NOT_UNDERSTOOD",
    "Candidate",
    "ConversationContext",
    "EntityResolver",
    "Intent",
    "OfflineChatModel",
    "ParseResult",
    "Resolution",
    "RoleAwareResolver",
    "ToolCall",
    "ToolOutcome",
    "TwinNameResolver",
    "Unresolved",
    "When",
    "WhenError",
    "compose_answer",
    "parse",
    "parse_when",
    "unwrap_data",
    "when_text",
]
