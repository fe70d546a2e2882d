"""The management listener: ``/healthz``, ``/readyz`` and ``/metrics``, apart from Slack's door.

``opshand serve`` answers Slack and the signal webhooks on ``slack.host:slack.port`` and these
three on ``management.host:management.port`` (default ``127.0.0.1:9090``: reachable by the
node's Prometheus and kubelet, not from the internet). With ``management.token`` set, each of
them also wants ``Authorization: Bearer <token>``; a deployment that can only open one port sets
``management.port: 0`` and the token, and they are mounted on the public listener.

Readiness is cheap to ask: the database is pinged, but Slack's ``auth.test`` (rate-limited, and
slow while Slack is failing) is asked at most once per :data:`AUTH_OK_TTL` seconds when it
passes and once per :data:`AUTH_FAIL_TTL` seconds when it fails, by one caller at a time.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.ingress.limits import BodyLimit

__all__ = [
    "AUTH_FAIL_TTL",
    "AUTH_OK_TTL",
    "MANAGEMENT_PATHS",
    "SlackCheck",
    "TokenGuard",
    "health_routes",
    "management_app",
]

log = logging.getLogger(__name__)

AUTH_OK_TTL = 60.0
"""Seconds a passing ``auth.test`` is trusted by ``/readyz`` (Slack rate-limits it)."""
AUTH_FAIL_TTL = 10.0
"""Seconds a failing ``auth.test`` is remembered: a failing Slack is not asked per probe."""
MANAGEMENT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class SlackCheck:
    """Slack's ``auth.test`` as readiness sees it, cached both ways, asked by one thread."""

    def __init__(
        self,
        auth_test: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        ok_ttl: float = AUTH_OK_TTL,
        fail_ttl: float = AUTH_FAIL_TTL,
    ) -> None:
        self._auth_test = auth_test
        self._clock = clock
        self._ok_ttl, self._fail_ttl = ok_ttl, fail_ttl
        self._lock = threading.Lock()
        self._verdict = ""
        self._until = 0.0
        self.asked = 0
        """How many times Slack was actually asked (tests and metrics)."""

    def __call__(self) -> str:
        """``ok`` or why not."""
        with self._lock:  # concurrent probes wait for the one asking, then share its answer
            if self._clock() < self._until:
                return self._verdict
            self.asked += 1
            try:
                self._auth_test()
                verdict, ttl = "ok", self._ok_ttl
            except SlackApiError as exc:
                verdict, ttl = f"auth.test failed: {exc.response.get('error')}", self._fail_ttl
            except Exception as exc:
                verdict, ttl = f"unreachable: {type(exc).__name__}", self._fail_ttl
            self._verdict, self._until = verdict, self._clock() + ttl
            return verdict


def health_routes(
    *,
    engine: Engine,
    slack: Callable[[], str],
    circuits: Callable[[], Mapping[str, str]] | None = None,
) -> list[Route]:
    """``GET /healthz`` (the process is up) and ``GET /readyz`` (it can do its job)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    def readiness() -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any driver error means not ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["slack"] = slack()
        if circuits is not None:
            # An open circuit is reported, not fatal: Slack and the other integrations work.
            checks["circuits"] = dict(circuits())
        return checks["database"] == "ok" and checks["slack"] == "ok", checks

    async def readyz(request: Request) -> Response:
        ready, checks = await run_in_threadpool(readiness)
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


class TokenGuard:
    """ASGI middleware: the management paths want ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, *, token: SecretStr) -> None:
        self.app = app
        self._expected = b"Bearer " + token.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a management request without the token (401); pass everything else."""
        if scope["type"] == "http" and scope.get("path") in MANAGEMENT_PATHS:
            given = dict(scope.get("headers", ())).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await JSONResponse({"error": "unauthenticated"}, status_code=401)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def management_app(routes: list[BaseRoute], *, token: SecretStr | None = None) -> Starlette:
    """The management listener's app: ``routes`` (health and metrics), token-guarded if given."""
    middleware = [Middleware(BodyLimit, limit=10_000)]
    if token is not None:
        middleware.append(Middleware(TokenGuard, token=token))
    return Starlette(routes=routes, middleware=middleware)
