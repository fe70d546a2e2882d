"""The one threaded-server helper: uvicorn serving an ASGI app from a background thread.

:class:`bot.ingress.http.HttpServer` (tests, benchmarks, the demo's Slack request URL),
:class:`bot.localslack.LocalSlack` (the local Slack stand-in) and
:class:`bot.localslack.BoltServer` (a Bolt app for LocalSlack to call) all serve through it. It
binds the socket itself, so port 0 picks a free port that is known before the first request, and
:meth:`ThreadedServer.start` returns only once requests are accepted. Body limits stay with the
app (:class:`bot.ingress.limits.BodyLimit`), so every route is bounded the same way.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """One ASGI app served by uvicorn in a daemon thread, on a socket bound by :meth:`start`.

    Args:
        app: The ASGI app.
        host: Interface to bind (an IPv6 address is bound as such).
        port: Port; 0 picks a free one.
        name: The serving thread's name, also used in errors.
        start_timeout: Seconds :meth:`start` waits for the server to accept requests.
        config: More :class:`uvicorn.Config` options (e.g. ``timeout_keep_alive``).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "opshand-http",
        start_timeout: float = 10.0,
        **config: Any,
    ) -> None:
        self.app = app
        self.host = host
        self._port = port
        self.name = name
        self._start_timeout = start_timeout
        self._config = config
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def started(self) -> bool:
        """Whether the server is serving (between :meth:`start` and :meth:`stop`)."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: Not started.
        """
        if self._socket is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._socket.getsockname()[1])

    def bind(self) -> int:
        """Bind the socket (before serving, so the port is known); returns the port."""
        if self._server is not None or self._socket is not None:
            raise RuntimeError(f"{self.name} is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        return self.port

    def start(self) -> int:
        """Bind (unless :meth:`bind` did) and serve; returns the port once requests are accepted.

        Raises:
            RuntimeError: The server did not start within the timeout (it is stopped again).
            OSError: The address could not be bound.
        """
        if self._socket is None:
            self.bind()
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already started")
        sock = self._socket
        assert sock is not None
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", **self._config
        )
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                where = f"{self.host}:{self.port}"
                self.stop()
                raise RuntimeError(f"{self.name} could not start on {where}")
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        """Stop serving (requests in flight finish) and release the port. Safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None
