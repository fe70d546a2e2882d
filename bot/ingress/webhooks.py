"""Signal webhooks: ``POST /signals/<source>`` -> the signal loop.

Sources: ``alertmanager``, ``pagerduty``, ``generic`` and the alert webhooks of
:mod:`adapters.alert_webhooks` (``opsgenie``, ``datadog``, ``zabbix``). The HTTP server mounts
:func:`webhook_routes`. Each route first proves who sent the request
(:class:`bot.ingress.signal_auth.SignalGate`: a bearer token or basic auth in
``Authorization`` for Alertmanager, Opsgenie, Datadog and Zabbix, PagerDuty's v3 signature,
the generic sender's HMAC over timestamp and body), reads the body
bounded while it streams (:func:`bot.ingress.limits.read_body`), parses it with
:mod:`adapters.signals` and hands every :class:`~adapters.signals.Signal` to ``handler``
(usually :meth:`agent.signals.loop.SignalLoop.handle`) in a worker thread, since everything
behind it is synchronous. Answers: 202 accepted, 400 naming the bad field, 401 when the sender
is not who it claims (nothing is parsed, stored or processed), 413 for an oversized body.

Each signal carries its provenance: ``source`` is the authenticated source's name, and
``aiops_trusted`` is set only for a source configured so (``signals.sources.<name>.
aiops_trusted``); alert text from any other source stays data on its incident record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.alert_webhooks import parse_datadog, parse_opsgenie, parse_zabbix
from adapters.errors import SignalError, SignatureError
from adapters.signals import (
    MAX_SIGNAL_BYTES,
    Signal,
    parse_alertmanager,
    parse_generic,
    parse_pagerduty,
)
from bot.ingress.limits import BodyTooLarge, read_body, too_large
from bot.ingress.signal_auth import SignalGate, SourceIdentity, Unauthenticated

__all__ = ["ALERT_WEBHOOKS", "SignalHandler", "webhook_routes"]

log = logging.getLogger(__name__)

SignalHandler = Callable[[Signal], Any]
"""Takes one parsed signal; what it returns may carry ``incident.ref`` for the answer."""

_SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}")

ALERT_WEBHOOKS: dict[str, Callable[[bytes], Signal]] = {
    "opsgenie": parse_opsgenie,
    "datadog": parse_datadog,
    "zabbix": parse_zabbix,
}
"""Alert webhook sources with their own route, authenticated by ``Authorization`` header."""


def _bad(exc: SignalError) -> JSONResponse:
    status = 401 if isinstance(exc, SignatureError) else 400
    return JSONResponse({"error": str(exc), "field": exc.field}, status_code=status)


def _refused(route: str, exc: Unauthenticated) -> JSONResponse:
    # The reason is logged for the operator; the sender only learns it was not let in.
    log.warning("signal webhook %s refused (401): %s", route, exc)
    return JSONResponse({"error": "unauthenticated"}, status_code=401)


def _accepted(results: list[Any]) -> JSONResponse:
    refs = [getattr(getattr(r, "incident", None), "ref", None) for r in results]
    return JSONResponse(
        {"accepted": len(results), "incidents": [r for r in refs if r]}, status_code=202
    )


def _provenance(signal: Signal, who: SourceIdentity) -> Signal:
    """The signal with its provenance: the proven source's name and whether its AIOps counts."""
    return signal.model_copy(update={"source": who.name, "aiops_trusted": who.aiops_trusted})


def webhook_routes(
    handler: SignalHandler, *, gate: SignalGate, max_body: int = MAX_SIGNAL_BYTES
) -> list[Route]:
    """The three signal routes, handing authenticated, parsed signals to ``handler``.

    Args:
        handler: Called once per signal, in a worker thread.
        gate: Who may send (``SignalGate(settings.signal_sources())``); a request it refuses
            is answered 401 and nothing of it is parsed or handed on.
        max_body: Largest body read, in bytes (reading stops there: 413).
    """

    async def run(signals: list[Signal], who: SourceIdentity) -> JSONResponse:
        results = []
        for s in signals:
            results.append(await run_in_threadpool(handler, _provenance(s, who)))
        return _accepted(results)

    async def alertmanager(request: Request) -> JSONResponse:
        try:
            # Credentials first: an anonymous sender does not even get its body read.
            who = gate.alertmanager(request.headers)
            body = await read_body(request, max_body)
        except Unauthenticated as exc:
            return _refused("alertmanager", exc)
        except BodyTooLarge:
            return too_large(max_body)
        try:
            signals = parse_alertmanager(body)
        except SignalError as exc:
            return _bad(exc)
        return await run(signals, who)

    async def pagerduty(request: Request) -> JSONResponse:
        try:
            who, secret = gate.pagerduty()
            body = await read_body(request, max_body)
        except Unauthenticated as exc:
            return _refused("pagerduty", exc)
        except BodyTooLarge:
            return too_large(max_body)
        try:
            signal = parse_pagerduty(
                body, signature=request.headers.get("x-pagerduty-signature"), secret=secret
            )
        except SignalError as exc:
            if isinstance(exc, SignatureError):
                log.warning("PagerDuty webhook refused: %s", exc)
            return _bad(exc)
        return await run([signal], who)

    async def generic(request: Request) -> JSONResponse:
        source = request.query_params.get("source", "generic")
        if not _SOURCE.fullmatch(source):
            return JSONResponse(
                {"error": "query parameter source must be a short lower-case name",
                 "field": "source"},
                status_code=400,
            )  # fmt: skip
        try:
            body = await read_body(request, max_body)
            who = gate.generic(source, request.headers, body)
        except Unauthenticated as exc:
            return _refused(f"generic?source={source}", exc)
        except BodyTooLarge:
            return too_large(max_body)
        if who.replay:
            log.info("signal webhook generic?source=%s: replayed signature ignored", source)
            return JSONResponse({"accepted": 0, "incidents": [], "replay": True}, status_code=202)
        try:
            signal = parse_generic(body, source=source)
        except SignalError as exc:
            return _bad(exc)
        return await run([signal], who)

    def header_authenticated(
        name: str, parse: Callable[[bytes], Signal]
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def route(request: Request) -> JSONResponse:
            try:
                who = gate.header_auth(name, request.headers)
                body = await read_body(request, max_body)
            except Unauthenticated as exc:
                return _refused(name, exc)
            except BodyTooLarge:
                return too_large(max_body)
            try:
                signal = parse(body)
            except SignalError as exc:
                return _bad(exc)
            return await run([signal], who)

        return route

    return [
        Route("/signals/alertmanager", alertmanager, methods=["POST"]),
        Route("/signals/pagerduty", pagerduty, methods=["POST"]),
        Route("/signals/generic", generic, methods=["POST"]),
        *(
            Route(f"/signals/{name}", header_authenticated(name, parse), methods=["POST"])
            for name, parse in ALERT_WEBHOOKS.items()
        ),
    ]
