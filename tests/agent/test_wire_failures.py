"""The wire test, failures: the real ``langchain-openai`` client against a local server that fails.

The server (``http.server`` in a thread) speaks the OpenAI ``/v1/chat/completions`` shapes
(https://platform.openai.com/docs/api-reference/chat/create; errors as
``{"error": {"message", "type", "code"}}`` with the HTTP status, rate limits with a
``retry-after`` header, https://platform.openai.com/docs/guides/error-codes). Each test scripts
one failure: a tool call whose arguments are not JSON, a 429 with ``Retry-After``, a 500 after a
proposal, an answer slower than the turn's budget. The first request also shows what the
provider receives of the tool schemas.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from agent.audit import Redactor
from agent.chat import Agent, ModelSpec, make_chat_model
from tests.agent.ops_world import ANA, OpsWorld, make_world
from twin.actions import CATALOG

API_KEY = "sk-wire-failures-key-0123456789abcdef"


class _Server:
    """Plays ``steps`` in order (the last repeats); records every request body."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps = steps
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                n = len(outer.requests) - 1
                step = outer.steps[min(n, len(outer.steps) - 1)]
                if step.get("hang"):
                    outer.release.wait(30)
                status = int(step.get("status", 200))
                payload = step["error"] if "error" in step else _completion(step, n)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in step.get("headers", {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (slow-answer test)
                    self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def _completion(step: dict[str, Any], n: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    finish = "stop"
    if "tool_calls" in step:
        finish = "tool_calls"
        message["tool_calls"] = [
            {
                "id": f"call_{n}_{i}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    # "raw" sends the arguments as given: a model's broken JSON
                    "arguments": c["raw"] if "raw" in c else json.dumps(c["args"]),
                },
            }
            for i, c in enumerate(step["tool_calls"])
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_700_000_000 + n,
        "model": "wire-model",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def _error(status: int, kind: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "headers": headers or {},
        "error": {"error": {"message": f"scripted {kind}", "type": kind, "code": kind}},
    }


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[_Server] = []

    def start(steps: list[dict[str, Any]]) -> _Server:
        s = _Server(steps)
        s.thread.start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.release.set()
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> OpsWorld:
    return make_world(engine, tmp_path)


def _agent(w: OpsWorld, server: _Server, **kw: Any) -> Agent:
    model = make_chat_model(
        ModelSpec(
            provider="openai-compatible",
            name="wire-model",
            base_url=server.url,
            api_key=SecretStr(API_KEY),
            timeout=10,
        )
    )
    return Agent(w.ops, model, redactor=Redactor([API_KEY]), **kw)


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
        [_error(429, "rate_limit_exceeded", {"retry-after": "1"}), {"content": "All quiet."}]
    )
    waits: list[float] = []
    reply = _agent(world, server, sleep=waits.append).ask("anything new?", requester=ANA)
    assert reply.text == "All quiet." and waits == [1.0]
    assert len(server.requests) == 2  # the SDK's own retries are off: ours count


def test_wire_429_beyond_the_budget_names_the_wait(world: OpsWorld, serve: Any) -> None:
    server = serve([_error(429, "rate_limit_exceeded", {"retry-after": "120"})])
    waits: list[float] = []
    agent = _agent(world, server, sleep=waits.append, max_seconds=20)
    reply = agent.ask("anything new?", requester=ANA)
    assert reply.error == "rate_limit" and waits == []
    assert "asked to wait 120 s" in reply.text and len(server.requests) == 1


def test_wire_401_says_the_key_was_refused(world: OpsWorld, serve: Any) -> None:
    server = serve([_error(401, "invalid_api_key")])
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
            _error(500, "server_error"),
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
