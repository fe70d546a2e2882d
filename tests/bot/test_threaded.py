"""The one threaded-server helper: free port known at bind, clean stop, bounded bodies."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from slack_bolt import App
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.ingress import ThreadedServer
from bot.localslack import BoltServer
from bot.localslack.boltserver import MAX_BODY


def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


def test_serves_on_a_free_port_and_releases_it() -> None:
    server = ThreadedServer(Starlette(routes=[Route("/", _hello)]), name="t-http")
    port = server.start()
    try:
        assert server.started and server.port == port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "hi"
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    finally:
        server.stop()
    assert not server.started
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    server.stop()  # twice is fine


@pytest.fixture
def bolt() -> Iterator[BoltServer]:
    app = App(token="xoxb-test", signing_secret="secret", token_verification_enabled=False)
    with BoltServer(app) as server:
        yield server


def test_bolt_server_refuses_bodies_over_the_limit(bolt: BoltServer) -> None:
    declared = httpx.post(bolt.url, content=b"x" * (MAX_BODY + 1))
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65_536 + 2):
            yield b"x" * 65_536

    streamed = httpx.post(bolt.url, content=chunks())  # chunked: no Content-Length
    assert streamed.status_code == 413


def test_bolt_server_hands_requests_to_bolt_off_the_event_loop(bolt: BoltServer) -> None:
    # Unsigned: Bolt answers 401 itself, from a worker thread, not the serving thread.
    answer = httpx.post(bolt.url, content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 401
    assert threading.active_count() >= 2
