"""Signal webhooks: ``POST /signals/{alertmanager,pagerduty,generic}`` -> the signal loop.

The HTTP server mounts :func:`webhook_routes`. Each route reads the raw body (bounded), parses it
with :mod:`adapters.signals` and hands every :class:`~adapters.signals.Signal` to ``handler``
(usually :meth:`agent.signals.loop.SignalLoop.handle`) in a worker thread, since everything
behind it is synchronous. Answers: 202 accepted, 400 naming the bad field, 401 for a PagerDuty
signature that does not verify (nothing is parsed or processed), 413 for an oversized body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.errors import SignalError, SignatureError
from adapters.signals import (
    MAX_SIGNAL_BYTES,
    Signal,
    parse_alertmanager,
    parse_generic,
    parse_pagerduty,
)

__all__ = ["SignalHandler", "webhook_routes"]

log = logging.getLogger(__name__)

SignalHandler = Callable[[Signal], Any]
"""Takes one parsed signal; what it returns may carry ``incident.ref`` for the answer."""

_SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _bad(exc: SignalError) -> JSONResponse:
    status = 401 if isinstance(exc, SignatureError) else 400
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=status)


async def _body(request: Request) -> bytes | JSONResponse:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_SIGNAL_BYTES:
        return JSONResponse(
            {"error": f"body larger than {MAX_SIGNAL_BYTES} bytes", "field": "body"},
            status_code=413,
        )
    body = await request.body()
    if len(body) > MAX_SIGNAL_BYTES:
        return JSONResponse(
            {"error": f"body larger than {MAX_SIGNAL_BYTES} bytes", "field": "body"},
            status_code=413,
        )
    return body


def _accepted(results: list[Any]) -> JSONResponse:
    refs = [getattr(getattr(r, "incident", None), "ref", None) for r in results]
    return JSONResponse(
        {"accepted": len(results), "incidents": [r for r in refs if r]}, status_code=202
    )


def webhook_routes(
    handler: SignalHandler, *, pagerduty_secret: SecretStr | None = None
) -> list[Route]:
    """The three signal routes, handing parsed signals to ``handler``.

    Args:
        handler: Called once per signal, in a worker thread.
        pagerduty_secret: The webhook subscription's signing secret; without it the PagerDuty
            route answers 503 (an unverifiable webhook is never processed).
    """

    async def run(signals: list[Signal]) -> JSONResponse:
        results = []
        for s in signals:
            results.append(await run_in_threadpool(handler, s))
        return _accepted(results)

    async def alertmanager(request: Request) -> JSONResponse:
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            signals = parse_alertmanager(body)
        except SignalError as exc:
            return _bad(exc)
        return await run(signals)

    async def pagerduty(request: Request) -> JSONResponse:
        if pagerduty_secret is None:
            return JSONResponse(
                {"error": "PagerDuty webhooks are not configured (no signing secret)"},
                status_code=503,
            )
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            signal = parse_pagerduty(
                body,
                signature=request.headers.get("x-pagerduty-signature"),
                secret=pagerduty_secret,
            )
        except SignalError as exc:
            if isinstance(exc, SignatureError):
                log.warning("PagerDuty webhook refused: %s", exc)
            return _bad(exc)
        return await run([signal])

    async def generic(request: Request) -> JSONResponse:
        source = request.query_params.get("source", "generic")
        if not _SOURCE.fullmatch(source):
            return JSONResponse(
                {"error": "query parameter source must be a short lower-case name",
                 "field": "source"},
                status_code=400,
            )  # fmt: skip
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            signal = parse_generic(body, source=source)
        except SignalError as exc:
            return _bad(exc)
        return await run([signal])

    return [
        Route("/signals/alertmanager", alertmanager, methods=["POST"]),
        Route("/signals/pagerduty", pagerduty, methods=["POST"]),
        Route("/signals/generic", generic, methods=["POST"]),
    ]
