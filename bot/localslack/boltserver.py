"""Serve a sync Bolt ``App`` over HTTP on localhost, in a background thread.

Slack's HTTP mode needs the app reachable at a request URL. Bolt's own development server
cannot be stopped from another thread, so this wraps Bolt's WSGI adapter in a threading
``wsgiref`` server that starts on a free port and stops cleanly (tests, the offline demo).
"""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # Each request gets a thread, so a slow listener does not hold up Slack's retry.
    daemon_threads = False
    block_on_close = True


MAX_BODY = 1_000_000
"""Largest request body passed to Bolt (its WSGI adapter reads ``CONTENT_LENGTH`` bytes)."""


def _bounded(app: Any, limit: int) -> Any:
    """Refuse a declared body over ``limit`` before Bolt reads it (wsgiref has no chunked
    bodies: without ``Content-Length`` nothing is read)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        declared = str(environ.get("CONTENT_LENGTH") or "0")
        if not declared.isdigit() or int(declared) > limit:
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [f"body larger than {limit} bytes".encode()]
        return app(environ, start_response)

    return wrapped


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Drop the per-request access log line."""


class BoltServer:
    """A Bolt app listening on ``http://host:port/slack/events``."""

    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, path: str = "/slack/events"
    ) -> None:
        """Prepare the server; ``start()`` binds the port.

        Args:
            app: The sync Bolt app to serve.
            host: Interface to listen on.
            port: Port; 0 picks a free one.
            path: The request URL's path.
        """
        self._handler = _bounded(SlackRequestHandler(app, path=path), MAX_BODY)
        self._host = host
        self._port = port
        self._path = path
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("BoltServer is already started")
        self._server = make_server(
            self._host,
            self._port,
            self._handler,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="bolt-http"
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The request URL to give Slack (``LocalSlack(bot_url=...)``)."""
        if self._server is None:
            raise RuntimeError("BoltServer is not started")
        return f"http://{self._host}:{self._server.server_port}{self._path}"

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> BoltServer:
        """Start on entry."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()
