"""Signals to changes: runbooks, the signal loop and its agent fallback."""

from __future__ import annotations

from agent.signals.fallback import (
    DEFAULT_ACTIONS,
    SignalAgent,
    agent_requester,
    build_request,
)
from agent.signals.loop import (
    AgentAttempt,
    AgentFallback,
    IncidentNote,
    Preview,
    SignalLoop,
    SignalOutcome,
    preview,
)
from agent.signals.runbooks import (
    Runbook,
    RunbookError,
    RunbookMatch,
    RunbookSet,
    TemplateError,
    load_runbooks,
    load_runbooks_text,
    resolve_entity,
)

__all__ = [
    "DEFAULT_ACTIONS",
    "AgentAttempt",
    "AgentFallback",
    "IncidentNote",
    "Preview",
    "Runbook",
    "RunbookError",
    "RunbookMatch",
    "RunbookSet",
    "SignalAgent",
    "SignalLoop",
    "SignalOutcome",
    "TemplateError",
    "agent_requester",
    "build_request",
    "load_runbooks",
    "load_runbooks_text",
    "preview",
    "resolve_entity",
]
