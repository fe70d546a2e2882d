"""The wire test, failures: the real ``langchain-openai`` client against a local server that fails.

The server (:mod:`tests.openai_server`) speaks the OpenAI ``/v1/chat/completions`` shapes,
errors and rate limits included. Each test scripts
one failure: a tool call whose arguments are not JSON, a 429 with ``Retry-After``, a 500 after a
proposal, an answer slower than the turn's budget. The first request also shows what the
provider receives of the tool schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.audit import Redactor
from agent.chat import Agent
from tests.agent.ops_world import ANA, OpsWorld, make_world
from tests.openai_server import OpenAIServer, Serve, chat_model, error_step, serving
from twin.actions import CATALOG

API_KEY = "sk-wire-failures-key-0123456789abcdef"


@pytest.fixture
def serve() -> Iterator[Serve]:
    yield from serving()


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    return make_world(engine, tmp_path)


def _agent(w: OpsWorld, server: OpenAIServer, **kw: Any) -> Agent:
    return Agent(w.ops, chat_model(server, API_KEY), redactor=Redactor([API_KEY]), **kw)


def test_wire_tool_schemas_reach_the_provider_closed(world: OpsWorld, serve: Any) -> None:
    server = serve([{"content": "ok"}])
    _agent(world, server).ask("hello", requester=ANA)
    first = server.requests[0]
    assert first["temperature"] == 0
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    for name, fn in tools.items():
        assert fn["parameters"]["additionalProperties"] is False, name
        assert len(fn["description"]) > 60, name
    propose = tools["propose_change"]["parameters"]["properties"]
    assert propose["action"]["enum"] == sorted(CATALOG)
    variants = propose["params"]["anyOf"]
    assert len(variants) == len(CATALOG)
    assert all(v["additionalProperties"] is False for v in variants)
    reboot = next(v for v in variants if v["description"] == "params of host.reboot")
    assert reboot["properties"]["window"]["enum"] == ["now", "tonight", "maintenance"]
    period = tools["activity"]["parameters"]["properties"]["period"]["enum"]
    assert period == ["today", "yesterday", "this_week", "last_week", "week"]
    env = tools["twin_search"]["parameters"]["properties"]["env"]["anyOf"][0]["enum"]
    assert "prod" in env
    system = first["messages"][0]["content"]
    assert "ask which one" in system and "Today is " in system and "Slack" in system


def test_wire_bad_tool_json_goes_back_as_an_error_the_model_fixes(
    world: OpsWorld, serve: Any
) -> None:
    server = serve(
        [
            {"tool_calls": [{"name": "twin_deps", "raw": '{"entity": "contoso-ny-db-01"'}]},
            {"tool_calls": [{"name": "twin_deps", "args": {"entity": "contoso-ny-db-01"}}]},
            {"content": "It needs the network and the hypervisor."},
        ]
    )
    reply = _agent(world, server).ask("what does contoso-ny-db-01 need?", requester=ANA)
    assert reply.text == "It needs the network and the hypervisor." and reply.error is None
    second = server.requests[1]["messages"]
    assert second[2]["tool_calls"][0]["id"] == "call_0_0"
    repair = second[3]
    assert repair["role"] == "tool" and repair["tool_call_id"] == "call_0_0"
    assert "not a valid JSON object" in repair["content"]


def test_wire_bad_tool_json_forever_ends_with_a_sentence(world: OpsWorld, serve: Any) -> None:
    server = serve([{"tool_calls": [{"name": "twin_deps", "raw": "{not json"}]}])
    reply = _agent(world, server).ask("what does contoso-ny-db-01 need?", requester=ANA)
    assert reply.error == "unreadable" and reply.text.startswith("I could not finish")
    assert len(server.requests) == 3


def test_wire_429_waits_retry_after_then_answers(world: OpsWorld, serve: Any) -> None:
    server = serve(
        [error_step(429, "rate_limit_exceeded", {"retry-after": "1"}), {"content": "All quiet."}]
    )
    waits: list[float] = []
    reply = _agent(world, server, sleep=waits.append).ask("anything new?", requester=ANA)
    assert reply.text == "All quiet." and waits == [1.0]
    assert len(server.requests) == 2  # the SDK's own retries are off: ours count


def test_wire_429_beyond_the_budget_names_the_wait(world: OpsWorld, serve: Any) -> None:
    server = serve([error_step(429, "rate_limit_exceeded", {"retry-after": "120"})])
    waits: list[float] = []
    agent = _agent(world, server, sleep=waits.append, max_seconds=20)
    reply = agent.ask("anything new?", requester=ANA)
    assert reply.error == "rate_limit" and waits == []
    assert "asked to wait 120 s" in reply.text and len(server.requests) == 1


def test_wire_401_says_the_key_was_refused(world: OpsWorld, serve: Any) -> None:
    server = serve([error_step(401, "invalid_api_key")])
    reply = _agent(world, server).ask("anything new?", requester=ANA)
    assert reply.error == "authentication" and "refused the API key" in reply.text
    assert API_KEY not in reply.text


def test_wire_500_after_a_proposal_says_the_change_was_recorded(
    world: OpsWorld, serve: Any
) -> None:
    server = serve(
        [
            {
                "tool_calls": [
                    {
                        "name": "propose_change",
                        "args": {
                            "action": "host.reboot",
                            "targets": ["contoso-ny-db-01"],
                            "reason": "asked",
                        },
                    }
                ]
            },
            error_step(500, "server_error"),
        ]
    )
    reply = _agent(world, server, sleep=lambda s: None).ask(
        "reboot contoso-ny-db-01", requester=ANA
    )
    assert reply.error == "unavailable" and "HTTP 500" in reply.text
    assert reply.proposals, reply.tool_calls
    assert f"recorded {reply.proposals[0].ref}" in reply.text


def test_wire_slow_answer_is_cut_at_the_turn_budget(world: OpsWorld, serve: Any) -> None:
    server = serve([{"hang": True, "content": "too late"}])
    # the budget leaves room for the turn's own work, even on a loaded machine
    reply = _agent(world, server, max_seconds=3).ask("anything new?", requester=ANA)
    assert len(server.requests) == 1  # the call was made, and the server never answered it
    assert reply.capped == "time" and reply.error == "timeout"
    assert "while waiting for the model" in reply.text
