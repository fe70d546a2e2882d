"""The offline model: a deterministic LangChain chat model with no network.

It reads the person's message with the offline parser (a real parser with fuzzy entity resolution
against the twin), answers with tool calls, and, once the tool results are back, composes plain
sentences from them. It never sees anything but the trusted human text when choosing tools:
tool results (untrusted data) are only ever rendered, never parsed for instructions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from agent.chat.offline.compose import compose_answer
from agent.chat.offline.parser import parse
from agent.chat.offline.types import (
    ConversationContext,
    EntityResolver,
    Intent,
    ToolCall,
    ToolOutcome,
)
from agent.chat.offline.when import WHEN_ASK_KEY
from twin.model import utcnow

__all__ = ["DATA_TAG", "HUMAN_TAG", "OfflineChatModel", "unwrap_data"]

HUMAN_TAG = "request"
DATA_TAG = "data"


def _human_text(msg: BaseMessage) -> str:
    text = str(msg.content)
    # The loop wraps the person's words as <request>...</request>; take them back out.
    start, end = f"<{HUMAN_TAG}>", f"</{HUMAN_TAG}>"
    if start in text and end in text:
        return text.split(start, 1)[1].rsplit(end, 1)[0].strip()
    return text


def unwrap_data(content: str) -> str:
    """A tool result's JSON, taken out of its ``<data>`` delimiters."""
    text = content.strip()
    start, end = f"<{DATA_TAG}>", f"</{DATA_TAG}>"
    if text.startswith(start) and text.endswith(end):
        return text[len(start) : -len(end)]
    return text


class OfflineChatModel(BaseChatModel):
    """Deterministic chat model: parser in, tool calls out; tool results in, sentences out."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    resolver_factory: Callable[[], EntityResolver]
    clock: Callable[[], datetime] = utcnow
    """The clock answers count ages from ("last seen 5 min ago")."""
    _counter: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "opshand-offline"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflineChatModel:
        """The offline model knows opshand's tools already; binding changes nothing."""
        return self

    def _context(self, messages: list[BaseMessage]) -> ConversationContext | None:
        # The thread's subject rides on the system message (opshand's own records); the
        # previous turn's parse is stored on its first AI message.
        subject: dict[str, Any] = {}
        for m in messages:
            if isinstance(m, SystemMessage) and m.additional_kwargs.get("opshand_subject"):
                subject = dict(m.additional_kwargs["opshand_subject"])
        about: dict[str, Any] = {
            "changes": [str(c) for c in subject.get("changes") or []],
            "entities": [str(e) for e in subject.get("entities") or []],
        }
        # "now or in the next window?" is answered only right after it was asked.
        last_ai = next((m for m in reversed(messages[:-1]) if isinstance(m, AIMessage)), None)
        asked = last_ai.additional_kwargs.get(WHEN_ASK_KEY) if last_ai is not None else None
        if isinstance(asked, dict) and asked.get("action") and asked.get("targets"):
            about["when_asked"] = ToolCall(name="propose_change", args=dict(asked))
        for m in reversed(messages[:-1]):
            if isinstance(m, AIMessage) and m.additional_kwargs.get("opshand_parse"):
                p = m.additional_kwargs["opshand_parse"]
                return ConversationContext(
                    last_intent=Intent(p["intent"]),
                    last_tool_calls=[ToolCall(**c) for c in p["calls"]],
                    last_targets=p["targets"],
                    **about,
                )
        return ConversationContext(**about) if any(about.values()) else None

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return self._answer(messages)
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        text = _human_text(human) if human is not None else ""
        # The requester's zone rides on the system message, so "tonight" is their night.
        tz = next(
            (
                str(m.additional_kwargs["opshand_tz"])
                for m in messages
                if isinstance(m, SystemMessage) and m.additional_kwargs.get("opshand_tz")
            ),
            "UTC",
        )
        result = parse(text, self.resolver_factory(), context=self._context(messages), tz=tz)
        if not result.tool_calls:
            reply = result.text or "I did not understand that. Say `help` to see what I can do."
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])
        calls = []
        for c in result.tool_calls:
            self._counter += 1
            calls.append(
                {
                    "name": c.name,
                    "args": c.args,
                    "id": f"offline-{self._counter}",
                    "type": "tool_call",
                }
            )
        parse_note = {
            "intent": result.intent.value,
            "calls": [c.model_dump() for c in result.tool_calls],
            "targets": result.targets(),
            "notes": list(result.notes),
        }
        msg = AIMessage(
            content="", tool_calls=calls, additional_kwargs={"opshand_parse": parse_note}
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        # Pair the latest AI tool calls with their results.
        idx = max(i for i, m in enumerate(messages) if isinstance(m, AIMessage) and m.tool_calls)
        ai = messages[idx]
        assert isinstance(ai, AIMessage)
        results = {m.tool_call_id: m for m in messages[idx + 1 :] if isinstance(m, ToolMessage)}
        outcomes = []
        for tc in ai.tool_calls:
            tm = results.get(str(tc.get("id")))
            if tm is None:
                continue
            try:
                payload = json.loads(unwrap_data(str(tm.content)))
            except json.JSONDecodeError:
                payload = {"status": "error", "error": "unreadable tool result"}
            outcomes.append(
                ToolOutcome.from_result(ToolCall(name=tc["name"], args=tc["args"]), payload)
            )
        note = ai.additional_kwargs.get("opshand_parse", {})
        intent = Intent(note.get("intent", "unknown"))
        notes = [str(n) for n in note.get("notes") or []]
        text = compose_answer(outcomes, intent, notes=notes, now=self.clock())
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
