"""The conversation: the tool-calling loop, its tools and their guard, the chat models, and
what a thread is about (:mod:`agent.chat.thread`)."""

from __future__ import annotations

from agent.chat.guard import (
    MAX_TARGETS,
    action_requested,
    may_request,
    named_in_request,
    normalise,
    param_mentions,
)
from agent.chat.intent import IntentReading, read_intent
from agent.chat.loop import SYSTEM_PROMPT, Agent, AgentReply
from agent.chat.memory import MEMORY_TURNS, memory_table, wrap_data
from agent.chat.models import (
    PROVIDERS,
    ModelSpec,
    ModelUnavailable,
    make_chat_model,
    offline_model,
    parse_model_spec,
)
from agent.chat.named import NamedSet, named_set
from agent.chat.provider import (
    ModelFailure,
    call_within,
    classify,
)
from agent.chat.results import (
    MAX_RESULT_CHARS,
    MAX_RESULT_TOKENS,
    estimate_tokens,
    tool_result,
)
from agent.chat.thread import ThreadSubject, asks_undo
from agent.chat.tool_args import (
    TOOL_ARGS,
    ToolArgs,
)
from agent.chat.tool_specs import (
    TOOL_DOCS,
    tool_schemas,
)
from agent.chat.tools import ToolBox
from agent.chat.turn import TurnContext

__all__ = [
    "MAX_RESULT_CHARS",
    "MAX_RESULT_TOKENS",
    "MAX_TARGETS",
    "MEMORY_TURNS",
    "PROVIDERS",
    "SYSTEM_PROMPT",
    "TOOL_ARGS",
    "TOOL_DOCS",
    "Agent",
    "AgentReply",
    "IntentReading",
    "ModelFailure",
    "ModelSpec",
    "ModelUnavailable",
    "NamedSet",
    "ThreadSubject",
    "ToolArgs",
    "ToolBox",
    "TurnContext",
    "action_requested",
    "asks_undo",
    "call_within",
    "classify",
    "estimate_tokens",
    "make_chat_model",
    "may_request",
    "memory_table",
    "named_in_request",
    "named_set",
    "normalise",
    "offline_model",
    "param_mentions",
    "parse_model_spec",
    "read_intent",
    "tool_result",
    "tool_schemas",
    "wrap_data",
]
