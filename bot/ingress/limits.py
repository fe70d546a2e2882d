"""Request bodies bounded while they stream in, chunked or not (C8).

A declared ``Content-Length`` over the limit is refused before a byte of the body is read. A body
without one (``Transfer-Encoding: chunked``) is counted chunk by chunk and reading stops at the
limit: the process never holds more than the limit plus one chunk, however much the client sends.
Two ways to use it, meant to be used together:

- :class:`BodyLimit`, an ASGI middleware around a whole app, so every route is covered even when
  its handler simply awaits ``request.body()``;
- :func:`read_body`, for a handler that wants its own (smaller) limit and a precise answer.

Both answer 413 with a sentence naming the limit.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_LIMIT", "BodyLimit", "BodyTooLarge", "read_body", "too_large"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1_000_000
"""Bytes; Slack's payloads and signal webhooks are far smaller."""


class BodyTooLarge(Exception):
    """The body passed the limit; reading stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


def too_large(limit: int) -> JSONResponse:
    """The 413 answer."""
    return JSONResponse(
        {"error": f"body larger than {limit} bytes", "field": "body"},
        status_code=413,
        headers={"Connection": "close"},
    )


def _declared(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def read_body(request: Request, limit: int = DEFAULT_LIMIT) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as more than ``limit`` bytes arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


class BodyLimit:
    """ASGI middleware: every request body stops at ``limit`` bytes and is answered 413.

    The app's ``receive`` is wrapped: the chunk that crosses the limit raises
    :class:`BodyTooLarge` inside the app (wherever it reads the body), whatever the app then
    tries to answer is dropped, and the client gets the 413.
    """

    def __init__(self, app: ASGIApp, *, limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared(scope)
        if declared is not None and declared > self.limit:
            log.warning(
                "request to %s refused: body of %d bytes is over %d",
                scope.get("path"),
                declared,
                self.limit,
            )
            await too_large(self.limit)(scope, receive, send)
            return
        state: MutableMapping[str, Any] = {"size": 0, "over": False, "started": False}

        async def limited() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["size"] += len(message.get("body", b""))
                if state["size"] > self.limit:
                    state["over"] = True
                    raise BodyTooLarge(self.limit)
            return message

        async def guarded(message: Message) -> None:
            if state["over"]:
                return  # the app's own answer to a half-read body is replaced by the 413
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except BodyTooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"]:
            log.warning(
                "request to %s refused: body is over %d bytes", scope.get("path"), self.limit
            )
            if not state["started"]:
                await too_large(self.limit)(scope, receive, send)
