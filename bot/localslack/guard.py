"""The local workspace answers only its own page on this machine (C9).

The page lets anyone act as any demo person, approvers included, so the server must not be
reachable from other web pages open in the same browser:

- **DNS rebinding**: every request's ``Host`` must name this machine (``127.0.0.1``,
  ``localhost``, ``::1`` or the interface it listens on, plus any name given explicitly); a page
  on ``evil.example`` that re-resolves its name to ``127.0.0.1`` still sends
  ``Host: evil.example`` and is refused.
- **Cross-site requests** to the page's actions (``POST /ui/...``): the ``Origin`` (or, without
  one, ``Sec-Fetch-Site``) must be this server; the body must be ``application/json`` (a form
  post from another site cannot send that without a CORS preflight, which is never granted);
  and the request must carry the page's token (``X-Opshand-UI-Token``), which is written into the
  page served here and cannot be read by another origin.

Everything refused gets 403 with the reason.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "TOKEN_HEADER", "LocalOnly", "host_name"]

log = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_HEADER = "X-Opshand-UI-Token"  # noqa: S105 (a header name)
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104  (names, not a bind)


def host_name(value: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` -> ``::1``), lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class LocalOnly:
    """ASGI middleware: a Host allow-list on every request; origin, JSON and token on actions."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        bind_host: str = "127.0.0.1",
        allowed_hosts: Iterable[str] = (),
        action_prefix: str = "/ui/",
    ) -> None:
        self.app = app
        self._token = token.encode()
        names = {*LOOPBACK_NAMES, *(h.lower() for h in allowed_hosts)}
        if bind_host.lower() not in _WILDCARDS:
            names.add(bind_host.lower())
        self.allowed = frozenset(names)
        self._prefix = action_prefix

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, why: str) -> None:
        method = scope.get("method", "WEBSOCKET")
        log.warning("local workspace refused %s %s: %s", method, scope["path"], why)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await JSONResponse({"ok": False, "error": why}, status_code=403)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if host_name(headers.get("host", "")) not in self.allowed:
            await self._refuse(scope, receive, send, "unknown Host (only this machine's names)")
            return
        action = scope["type"] == "http" and scope["method"] == "POST"
        if action and scope["path"].startswith(self._prefix):
            why = self._action_refusal(headers)
            if why:
                await self._refuse(scope, receive, send, why)
                return
        await self.app(scope, receive, send)

    def _action_refusal(self, headers: dict[str, str]) -> str:
        origin = headers.get("origin")
        if origin is not None:
            # Same origin: scheme http(s), and exactly the host and port this request was sent to.
            parts = urlsplit(origin.lower())
            same = parts.netloc == headers.get("host", "").strip().lower()
            if parts.scheme not in ("http", "https") or not same:
                return "cross-origin request"
        elif headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site request"
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return "the body must be application/json"
        given = headers.get(TOKEN_HEADER.lower(), "").encode()
        if not given or not hmac.compare_digest(given, self._token):
            return f"missing or wrong {TOKEN_HEADER} (reload the page)"
        return ""
