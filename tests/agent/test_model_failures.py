"""The real-model path: unreadable tool calls, provider errors, the turn's budget, keys, fallback.

Fakes here raise the OpenAI SDK's own exception types (built on its HTTP responses) so the
classification is tested against what the real client throws; the wire test
(``test_wire_openai.py``) runs the same failures through the real client and a local server.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr, SecretStr
from sqlalchemy import Engine

from agent.audit import Redactor
from agent.chat import Agent, ModelSpec, ModelUnavailable, make_chat_model
from agent.chat.loop import MAX_REPAIRS
from agent.chat.models import model_key
from agent.chat.provider import ModelFailure, call_within, classify
from bot.bootstrap import build_fallback, build_model
from bot.settings import Settings
from tests.agent.ops_world import ANA, OpsWorld, make_world

URL = "https://api.example/v1/chat/completions"


def _status_error(cls: type[openai.APIStatusError], status: int, **headers: str) -> Exception:
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("POST", URL))
    return cls("provider said no", response=response, body=None)


class _Steps(BaseChatModel):
    """Plays ``steps``: an exception is raised, a message is returned, an Event is waited on."""

    steps: list[Any]
    _i: int = PrivateAttr(default=0)
    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "steps"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> _Steps:
        return self

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        self._seen.append(list(messages))
        step = self.steps[min(self._i, len(self.steps) - 1)]
        self._i += 1
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, threading.Event):
            step.wait(30)
            step = AIMessage(content="too late")
        return ChatResult(generations=[ChatGeneration(message=step)])


def _bad_call(n: int) -> AIMessage:
    return AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": "twin_deps",
                "args": '{"entity": "contoso-erp-app"',
                "id": f"bad{n}",
                "error": "Expecting ',' delimiter",
                "type": "invalid_tool_call",
            }
        ],
    )


def _good_call() -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "twin_deps", "args": {"entity": "contoso-erp-app"}, "id": "ok1"}],
    )


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    return make_world(engine, tmp_path)


def _agent(w: OpsWorld, model: BaseChatModel, **kw: Any) -> Agent:
    kw.setdefault("sleep", lambda s: None)
    return Agent(w.ops, model, redactor=Redactor(), **kw)


def test_unreadable_tool_call_goes_back_to_the_model_as_an_error_it_fixes(world: OpsWorld) -> None:
    model = _Steps(steps=[_bad_call(1), _good_call(), AIMessage(content="it needs the db")])
    reply = _agent(world, model).ask("what does contoso-erp-app need?", requester=ANA)
    assert reply.text == "it needs the db" and reply.error is None
    repair = [m for m in model._seen[1] if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in repair] == ["bad1"]
    assert "not a valid JSON object" in str(repair[0].content)
    assert [c["name"] for c in reply.tool_calls] == ["twin_deps"]


def test_unreadable_tool_calls_are_retried_a_bounded_number_of_times(world: OpsWorld) -> None:
    model = _Steps(steps=[_bad_call(i) for i in range(10)])
    reply = _agent(world, model).ask("what does contoso-erp-app need?", requester=ANA)
    assert reply.error == "unreadable" and reply.model_calls == MAX_REPAIRS + 1
    assert "could not be read" in reply.text and "Nothing was changed" in reply.text


def test_an_empty_final_message_is_never_an_empty_answer(world: OpsWorld) -> None:
    reply = _agent(world, _Steps(steps=[AIMessage(content="  ")])).ask("hi", requester=ANA)
    assert reply.text.startswith("The model returned an empty answer")


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (_status_error(openai.AuthenticationError, 401), "authentication", "refused the API key"),
        (
            _status_error(openai.RateLimitError, 429, **{"retry-after": "7"}),
            "rate_limit",
            "asked to wait 7 s",
        ),
        (_status_error(openai.NotFoundError, 404), "unknown_model", "does not know the model"),
        (_status_error(openai.InternalServerError, 500), "unavailable", "HTTP 500"),
        (openai.APITimeoutError(httpx2.Request("POST", URL)), "timeout", "did not answer"),
        (ModelUnavailable("needs the package x: pip install x"), "package", "pip install x"),
    ],
)
def test_provider_errors_say_what_failed(error: Exception, kind: str, words: str) -> None:
    failure = classify(error, provider="openai")
    assert failure.kind == kind and words in failure.message


def test_rate_limit_waits_retry_after_inside_the_budget(world: OpsWorld) -> None:
    waits: list[float] = []
    limited = _status_error(openai.RateLimitError, 429, **{"retry-after": "2"})
    model = _Steps(steps=[limited, AIMessage(content="fine now")])
    reply = _agent(world, model, sleep=waits.append).ask("hi", requester=ANA)
    assert reply.text == "fine now" and waits == [2.0]


def test_rate_limit_beyond_the_budget_is_reported_with_the_wait(world: OpsWorld) -> None:
    waits: list[float] = []
    limited = _status_error(openai.RateLimitError, 429, **{"retry-after": "600"})
    model = _Steps(steps=[limited, AIMessage(content="never")])
    reply = _agent(world, model, sleep=waits.append, max_seconds=30).ask("hi", requester=ANA)
    assert reply.error == "rate_limit" and waits == []
    assert "asked to wait 600 s" in reply.text and "Nothing was changed" in reply.text


def test_failure_after_a_proposal_says_the_change_was_recorded(world: OpsWorld) -> None:
    propose = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "propose_change",
                "args": {
                    "action": "host.reboot",
                    "targets": ["contoso-ny-web-01"],
                    "reason": "asked",
                },
                "id": "p1",
            }
        ],
    )
    down = _status_error(openai.InternalServerError, 500)
    model = _Steps(steps=[propose, down, down, down])
    reply = _agent(world, model).ask("reboot contoso-ny-web-01", requester=ANA)
    assert reply.error == "unavailable"
    assert reply.proposals, reply.tool_calls
    assert f"recorded {reply.proposals[0].ref}" in reply.text


def test_a_slow_model_is_bounded_by_the_turn_budget(world: OpsWorld) -> None:
    hang = threading.Event()
    try:
        reply = _agent(world, _Steps(steps=[hang]), max_seconds=3).ask("hi", requester=ANA)
    finally:
        hang.set()
    assert reply.capped == "time" and reply.error == "timeout"
    assert "while waiting for the model" in reply.text


def test_call_within_never_starts_a_call_after_the_deadline() -> None:
    with pytest.raises(ModelFailure) as info:
        call_within(lambda: "x", deadline=0.0, clock=lambda: 1.0)
    assert info.value.kind == "timeout"


def test_keys_come_from_the_environment_when_settings_give_none() -> None:
    spec = ModelSpec(provider="openai", name="gpt-x")
    assert model_key(spec, {"OPENAI_API_KEY": "sk-env-1234"}) == "sk-env-1234"
    assert model_key(ModelSpec(provider="openai", api_key=SecretStr("k-own")), {}) == "k-own"
    with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY"):
        make_chat_model(spec, environ={})
    built: Any = make_chat_model(spec, environ={"OPENAI_API_KEY": "sk-env-1234"})
    assert built.openai_api_key.get_secret_value() == "sk-env-1234"
    assert built.temperature == 0.0 and built.max_retries == 0


def test_temperature_and_the_fallback_own_endpoint_key_and_timeout(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path,
        model={
            "provider": "openai-compatible",
            "name": "main",
            "base_url": "http://127.0.0.1:9/v1",
            "temperature": 0.4,
            "fallback": "openai-compatible:backup",
            "fallback_base_url": "http://127.0.0.1:8/v1",
            "fallback_api_key": "fb-key-0000",
            "fallback_max_seconds": 5,
        },
    )
    main: Any = build_model(s, lambda: None)  # type: ignore[arg-type,return-value]
    backup: Any = build_fallback(s, lambda: None)  # type: ignore[arg-type,return-value]
    assert main.temperature == 0.4 and main.openai_api_base == "http://127.0.0.1:9/v1"
    assert backup.openai_api_base == "http://127.0.0.1:8/v1" and backup.model_name == "backup"
    assert backup.openai_api_key.get_secret_value() == "fb-key-0000"
    assert backup.request_timeout == 5
