"""The Web API edge: ``/api/<method>`` parsing, token check, 429 injection, error replies.

``slack_sdk.WebClient`` sends JSON bodies, form bodies or query strings; Slack accepts all three
for any method, and so do we. Failures are HTTP 200 with ``{"ok": false, "error": code}``, as
Slack does, except ``ratelimited`` (429 with ``Retry-After``) and ``unknown_method`` (404).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.localslack.blockkit import MESSAGE_BLOCK_LIMIT, assign_ids, check_blocks
from bot.localslack.directory import BOT_USER_ID
from bot.localslack.state import JSON, Channel, Trigger, Workspace, new_id

DEFAULT_TRIGGER_TTL = 3.0
"""Seconds a ``trigger_id`` stays valid, as on Slack."""


class ApiError(Exception):
    """A Slack error reply: ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, *, extra: Mapping[str, Any] | None = None) -> None:
        """Create the error reply for ``code`` with optional extra top-level fields."""
        super().__init__(code)
        self.code = code
        self.extra = dict(extra or {})


def invalid(code: str, messages: list[str]) -> ApiError:
    """An error carrying ``response_metadata.messages`` (how Slack explains bad blocks)."""
    return ApiError(code, extra={"response_metadata": {"messages": messages}})


class Params:
    """Typed access to a call's arguments, whichever way they were sent."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        """Wrap the merged query, form or JSON arguments."""
        self.data = dict(data)

    def opt(self, name: str) -> str | None:
        """The argument as a string, or ``None`` when missing or empty."""
        value = self.data.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def req(self, name: str, error: str = "invalid_arguments") -> str:
        """The argument as a string; ``error`` when it is missing."""
        value = self.opt(name)
        if value is None:
            raise ApiError(error)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """The argument as a boolean (``true``/``1`` or a JSON true)."""
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def integer(self, name: str, default: int) -> int:
        """The argument as an integer; ``invalid_arguments`` when it is not one."""
        value = self.data.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None

    def json_value(self, name: str, error: str) -> Any:
        """A structured argument: already parsed (JSON body) or a JSON string (form body)."""
        value = self.data.get(name)
        if isinstance(value, str):
            if not value:
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(error) from None
        return value


Handler = Callable[["ApiContext", Params], JSON]


@dataclass
class ApiContext:
    """What every method handler may use."""

    workspace: Workspace
    public_url: str = ""
    """Base URL of this server (``http://host:port/``), for permalinks and upload URLs."""
    trigger_ttl: float = DEFAULT_TRIGGER_TTL
    """Seconds a ``trigger_id`` stays valid."""

    def channel(self, p: Params, name: str = "channel", *, allow_name: bool = False) -> Channel:
        """The channel given in argument ``name``; ``channel_not_found`` otherwise.

        ``allow_name`` also accepts ``#name``, as ``chat.postMessage`` does.
        """
        channel_id = p.opt(name) or ""
        channel = self.workspace.lookup_channel(channel_id)
        if channel is None and allow_name:
            channel = self.workspace.channel_by_name(channel_id)
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def blocks(self, p: Params) -> list[JSON] | None:
        """The ``blocks`` argument, checked like Slack checks message blocks."""
        blocks = p.json_value("blocks", "invalid_blocks_format")
        if blocks is None:
            return None
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = check_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT)
        if errors:
            raise invalid("invalid_blocks", errors)
        return assign_ids(blocks)

    def new_trigger(self, user_id: str) -> str:
        """Issue a ``trigger_id`` for an interaction by ``user_id``."""
        trigger_id = f"{int(time.time())}.{new_id('', 8)}.{new_id('', 16).lower()}"
        with self.workspace.lock:
            self.workspace.triggers[trigger_id] = Trigger(user_id=user_id, issued=time.monotonic())
        return trigger_id


async def read_params(request: Request) -> dict[str, Any]:
    """Merge query parameters with a JSON or form body, as Slack does."""
    data: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return data
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ApiError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise ApiError("invalid_json")
        data.update(parsed)
    elif content_type in ("application/x-www-form-urlencoded", "text/plain"):
        data.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type.startswith("multipart/"):
        # Only the retired files.upload sends multipart; its handler answers without the body.
        data["_multipart"] = True
    elif not content_type:
        raise ApiError("missing_post_type")
    else:
        raise ApiError("invalid_post_type")
    return data


def _token(request: Request, params: Mapping[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = params.get("token")
    return str(token) if token else None


def api_routes(ctx: ApiContext, handlers: Mapping[str, Handler]) -> list[Route]:
    """Build the ``/api/{method}`` route serving ``handlers``."""

    async def endpoint(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        try:
            params = await read_params(request)
        except ApiError as exc:
            return JSONResponse({"ok": False, "error": exc.code})
        token = _token(request, params)
        params.pop("token", None)
        ctx.workspace.record_call(method, params)
        retry_after = ctx.workspace.take_rate_limit(method)
        if retry_after is not None:
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        handler = handlers.get(method)
        if handler is None:
            return JSONResponse(
                {"ok": False, "error": "unknown_method", "req_method": method}, status_code=404
            )
        if method != "api.test":
            if token is None:
                return JSONResponse({"ok": False, "error": "not_authed"})
            if token != ctx.workspace.bot_token:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
        try:
            result = handler(ctx, Params(params))
        except ApiError as exc:
            return JSONResponse({"ok": False, "error": exc.code, **exc.extra})
        return JSONResponse({"ok": True, **result})

    return [Route("/api/{method}", endpoint, methods=["GET", "POST"])]


def bot_in(channel: Channel) -> bool:
    """Whether the bot is a member of ``channel``."""
    return BOT_USER_ID in channel.members
