"""One local OpenAI-compatible server for the wire tests (``http.server`` in a thread).

It speaks the ``/v1/chat/completions`` shapes
(https://platform.openai.com/docs/api-reference/chat/create; errors as
``{"error": {"message", "type", "code"}}`` with the HTTP status, rate limits with a
``retry-after`` header, https://platform.openai.com/docs/guides/error-codes) and plays scripted
steps in order, the last one repeating. A step is a reply (``content``, ``tool_calls`` with
``args``, or ``raw`` arguments: a model's broken JSON) or a failure (``status``, ``headers``,
``error``: see :func:`error_step`), and may ``hang`` until the server is stopped. Every request
body and its headers are recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from agent.chat import ModelSpec, make_chat_model

__all__ = ["OpenAIServer", "Serve", "chat_model", "completion", "error_step", "serving"]


class OpenAIServer:
    """Plays ``steps`` in order (the last repeats); records every request body and headers."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps = steps
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        """Set to let a ``hang`` step answer (done by :meth:`stop`)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                n = len(outer.requests) - 1
                step = outer.steps[min(n, len(outer.steps) - 1)]
                if step.get("hang"):
                    outer.release.wait(30)
                payload = step["error"] if "error" in step else completion(step, n)
                raw = json.dumps(payload).encode()
                self.send_response(int(step.get("status", 200)))
                self.send_header("Content-Type", "application/json")
                for k, v in step.get("headers", {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (slow-answer test)
                    self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The API base (``.../v1``) to give the client."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> OpenAIServer:
        """Serve in the background."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Release any hanging answer, stop serving and close the socket."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(step: dict[str, Any], n: int) -> dict[str, Any]:
    """An OpenAI chat.completion object (tool calls carry their arguments as a JSON string)."""
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
        "usage": {"prompt_tokens": 100 + n, "completion_tokens": 20, "total_tokens": 120 + n},
    }


def error_step(status: int, kind: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A step answering ``status`` with an OpenAI error body of type and code ``kind``."""
    return {
        "status": status,
        "headers": headers or {},
        "error": {"error": {"message": f"scripted {kind}", "type": kind, "code": kind}},
    }


Serve = Callable[[list[dict[str, Any]]], OpenAIServer]


def serving() -> Iterator[Serve]:
    """For a fixture: start servers with scripted steps; every one is stopped afterwards."""
    started: list[OpenAIServer] = []

    def start(steps: list[dict[str, Any]]) -> OpenAIServer:
        server = OpenAIServer(steps).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def chat_model(server: OpenAIServer, api_key: str) -> BaseChatModel:
    """The real ``langchain-openai`` client pointed at ``server`` (model ``wire-model``)."""
    return make_chat_model(
        ModelSpec(
            provider="openai-compatible",
            name="wire-model",
            base_url=server.url,
            api_key=SecretStr(api_key),
            timeout=10,
        )
    )
