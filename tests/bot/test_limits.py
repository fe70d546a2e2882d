"""C8: a body over the limit is refused while it streams, chunked or not, on every route."""

from __future__ import annotations

import gc
import select
import socket
import time
import tracemalloc
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from pydantic import SecretStr
from slack_bolt import App
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from bot.ingress import BodyLimit, HttpServer, SignalGate, create_http_app, webhook_routes
from bot.settings import SignalSourceSettings

HUGE = 200 * 1024 * 1024
CHUNK = b"x" * (64 * 1024)


def _echo_app(limit: int) -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({"size": len(await request.body())})

    return Starlette(
        routes=[Route("/echo", echo, methods=["POST"])],
        middleware=[Middleware(BodyLimit, limit=limit)],
    )


def test_c8_body_limit_refuses_declared_and_undeclared_sizes() -> None:
    c = TestClient(_echo_app(1000))
    assert c.post("/echo", content=b"a" * 1000).json() == {"size": 1000}
    assert c.post("/echo", content=b"a" * 1001).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        for _ in range(5):
            yield b"a" * 400

    r = c.post("/echo", content=chunks())
    assert r.status_code == 413 and "1000" in r.json()["error"]


@pytest.fixture
def server() -> Iterator[HttpServer]:
    bolt = App(
        token="xoxb-limits", signing_secret="limits-secret", token_verification_enabled=False
    )
    gate = SignalGate(
        {
            "generic": SignalSourceSettings(secret=SecretStr("k")),
            # open, so the route reads the body (credentials are checked before it otherwise)
            "alertmanager": SignalSourceSettings(open=True),
        }
    )
    app = create_http_app(
        bolt,
        engine=create_engine("sqlite://"),
        signing_secret="limits-secret",
        routes=webhook_routes(lambda s: None, gate=gate),
    )
    http = HttpServer(app)
    http.start()
    try:
        yield http
    finally:
        http.stop()


def _chunked_upload(base_url: str, path: str, total: int) -> tuple[bytes, int]:
    """POST ``total`` bytes chunked (no Content-Length); the answer and the bytes sent."""
    url = urlparse(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sent = 0
    answer = b""
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.hostname}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server has answered: stop sending, as a client would
            try:
                sock.sendall(frame)
            except OSError:  # the server closed the connection: read what it said
                break
            sent += len(CHUNK)
        else:
            sock.sendall(b"0\r\n\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                part = sock.recv(65536)
            except OSError:
                break
            if not part:
                break
            answer += part
    finally:
        sock.close()
    return answer, sent


@pytest.mark.parametrize("path", ["/slack/events", "/signals/generic", "/signals/alertmanager"])
def test_c8_huge_chunked_upload_stops_at_the_limit_with_memory_bounded(
    server: HttpServer, path: str
) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        answer, sent = _chunked_upload(server.base_url, path, HUGE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # the server stopped reading near the 1 MB limit: the client could not push 200 MB
    assert sent < HUGE // 4, sent
    growth = peak - base
    assert growth < 16 * 1024 * 1024, f"server memory grew {growth / 1e6:.1f} MB"


def test_c8_local_workspace_and_bolt_server_are_bounded_too() -> None:
    from bot.localslack import BoltServer, LocalSlack
    from bot.localslack.server import MAX_REQUEST_BODY

    slack = LocalSlack(
        signing_secret="limits-secret", bot_token="xoxb-limits", allowed_hosts=["testserver"]
    )

    def flood() -> Iterator[bytes]:
        for _ in range(MAX_REQUEST_BODY // len(CHUNK) + 2):
            yield CHUNK

    r = TestClient(slack.app).post("/api/chat.postMessage", content=flood())
    assert r.status_code == 413
    bolt = App(
        token="xoxb-limits", signing_secret="limits-secret", token_verification_enabled=False
    )
    with BoltServer(bolt) as server:
        url = urlparse(server.url)
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(
                f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n".encode()
            )
            assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] == b"413"
