"""Web API methods that write messages: ``chat.*``, ``reactions.*`` and file uploads."""

from __future__ import annotations

import mimetypes
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.localslack.blockkit import MESSAGE_BLOCK_LIMIT, assign_ids, check_blocks
from bot.localslack.directory import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID
from bot.localslack.state import JSON, bot_profile, new_id
from bot.localslack.webapi import ApiContext, ApiError, Handler, Params, invalid

MAX_TEXT = 40_000
"""Longest message text Slack accepts (``msg_too_long`` past it)."""
_REACTION_NAME = re.compile(r"^[a-z0-9_+\-']+$")


def _text_and_blocks(ctx: ApiContext, p: Params) -> tuple[str | None, list[JSON] | None]:
    text = p.opt("text")
    blocks = ctx.blocks(p)
    attachments = p.json_value("attachments", "invalid_attachments")
    if text is None and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    return text, blocks


_COLOR = re.compile(r"^#?(?:[0-9a-fA-F]{6}|good|warning|danger)$")
MAX_ATTACHMENTS = 100
"""Most attachments a message may carry (Slack keeps the first 100 and warns)."""


def _attachments(p: Params) -> list[JSON] | None:
    """Legacy ``attachments``, as Slack stores them: each numbered (``id``), its ``color``
    without the ``#``, a ``fallback``, its ``blocks`` checked like a message's.

    Returns:
        The attachments, ``[]`` when the caller sent an empty list, ``None`` when left out.
    """
    value = p.json_value("attachments", "invalid_attachments")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise ApiError("invalid_attachments")
    stored: list[JSON] = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise ApiError("invalid_attachments")
        att: JSON = {k: v for k, v in item.items() if k != "blocks"}
        color = item.get("color")
        if color is not None:
            if not isinstance(color, str) or not _COLOR.match(color):
                raise ApiError("invalid_attachments")
            att["color"] = color.removeprefix("#")
        if "blocks" in item:
            errors = check_blocks(
                item["blocks"], limit=MESSAGE_BLOCK_LIMIT, pointer=f"/attachments/{i - 1}/blocks"
            )
            if errors:
                raise invalid("invalid_attachments", errors)
            att["blocks"] = assign_ids(item["blocks"])
        att["id"] = i
        att.setdefault("fallback", item.get("text") or "[no preview available]")
        stored.append(att)
    return stored


def _metadata(p: Params) -> JSON | None:
    """``metadata``: ``{"event_type": str, "event_payload": object}``; ``{}`` means none.

    Returns:
        The metadata, ``{}`` when the caller sent an empty object, ``None`` when it was left out.
    """
    value = p.json_value("metadata", "invalid_metadata_format")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError("invalid_metadata_format")
    if not value:
        return {}
    kind, payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(kind, str) or not kind or not isinstance(payload, dict):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": kind, "event_payload": payload}


def bot_message(ts: str, text: str, blocks: list[JSON] | None) -> JSON:
    """A message as Slack stores one posted with a bot token."""
    message: JSON = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "text": text,
        "ts": ts,
        "team": TEAM_ID,
        "bot_profile": bot_profile(),
    }
    if blocks is not None:
        message["blocks"] = blocks
    return message


def post_message(ctx: ApiContext, p: Params) -> JSON:
    """``chat.postMessage``."""
    channel = ctx.channel(p, allow_name=True)
    if channel.is_archived:
        raise ApiError("is_archived")
    text, blocks = _text_and_blocks(ctx, p)
    message = bot_message(ctx.workspace.next_ts(), text or "", blocks)
    thread_ts = p.opt("thread_ts")
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
        if p.flag("reply_broadcast"):
            message["subtype"] = "thread_broadcast"
    metadata = _metadata(p)
    if metadata:
        message["metadata"] = metadata
    attachments = _attachments(p)
    if attachments:
        message["attachments"] = attachments
    stored = ctx.workspace.add_message(channel.id, message)
    return {"channel": channel.id, "ts": stored["ts"], "message": stored}


def update_message(ctx: ApiContext, p: Params) -> JSON:
    """``chat.update``: blocks or metadata left out are kept, as on Slack; empty removes them."""
    channel = ctx.channel(p)
    ts = p.req("ts", "message_not_found")
    current = ctx.workspace.find_message(channel.id, ts)
    if current is None:
        raise ApiError("message_not_found")
    if current.get("user") != BOT_USER_ID:
        raise ApiError("cant_update_message")
    text, blocks = _text_and_blocks(ctx, p)
    changes: dict[str, Any] = {"edited": {"user": BOT_USER_ID, "ts": ctx.workspace.next_ts()}}
    if text is not None:
        changes["text"] = text
    if blocks is not None:
        changes["blocks"] = blocks
    attachments = _attachments(p)
    if attachments is not None:
        changes["attachments"] = attachments or None  # [] removes them, as on Slack
    metadata = _metadata(p)
    if metadata is not None:
        changes["metadata"] = metadata or None  # None drops the key
    updated = ctx.workspace.update_message(channel.id, ts, changes)
    assert updated is not None
    return {"channel": channel.id, "ts": ts, "text": updated["text"], "message": updated}


def delete_message(ctx: ApiContext, p: Params) -> JSON:
    """``chat.delete``."""
    channel = ctx.channel(p)
    ts = p.req("ts", "message_not_found")
    current = ctx.workspace.find_message(channel.id, ts)
    if current is None:
        raise ApiError("message_not_found")
    if current.get("user") != BOT_USER_ID:
        raise ApiError("cant_delete_message")
    ctx.workspace.delete_message(channel.id, ts)
    return {"channel": channel.id, "ts": ts}


def post_ephemeral(ctx: ApiContext, p: Params) -> JSON:
    """``chat.postEphemeral``: only ``user`` sees it, and only if in the channel."""
    channel = ctx.channel(p, allow_name=True)
    # Slack documents one error for a user who cannot see the channel, known or not.
    user_id = p.req("user", "user_not_in_channel")
    if user_id not in channel.members:
        raise ApiError("user_not_in_channel")
    text, blocks = _text_and_blocks(ctx, p)
    message = bot_message(ctx.workspace.next_ts(), text or "", blocks)
    thread_ts = p.opt("thread_ts")
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    ctx.workspace.add_ephemeral(user_id, channel.id, message)
    return {"message_ts": message["ts"]}


def get_permalink(ctx: ApiContext, p: Params) -> JSON:
    """``chat.getPermalink``."""
    channel = ctx.channel(p)
    ts = p.req("message_ts", "message_not_found")
    message = ctx.workspace.find_message(channel.id, ts)
    if message is None:
        raise ApiError("message_not_found")
    link = f"{ctx.public_url}archives/{channel.id}/p{ts.replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def _reaction_target(ctx: ApiContext, p: Params) -> tuple[str, str, str, JSON]:
    channel = ctx.channel(p)
    ts = p.req("timestamp", "message_not_found")
    name = p.req("name", "invalid_name").strip(":")
    if not _REACTION_NAME.match(name):
        raise ApiError("invalid_name")
    message = ctx.workspace.find_message(channel.id, ts)
    if message is None:
        raise ApiError("message_not_found")
    return channel.id, ts, name, message


def add_reaction(ctx: ApiContext, p: Params) -> JSON:
    """``reactions.add`` (as the bot)."""
    channel_id, ts, name, message = _reaction_target(ctx, p)
    reactions: list[JSON] = message.get("reactions", [])
    entry = next((r for r in reactions if r["name"] == name), None)
    if entry is None:
        entry = {"name": name, "users": [], "count": 0}
        reactions.append(entry)
    if BOT_USER_ID in entry["users"]:
        raise ApiError("already_reacted")
    entry["users"].append(BOT_USER_ID)
    entry["count"] = len(entry["users"])
    ctx.workspace.update_message(channel_id, ts, {"reactions": reactions})
    return {}


def remove_reaction(ctx: ApiContext, p: Params) -> JSON:
    """``reactions.remove`` (as the bot)."""
    channel_id, ts, name, message = _reaction_target(ctx, p)
    reactions: list[JSON] = message.get("reactions", [])
    entry = next((r for r in reactions if r["name"] == name), None)
    if entry is None or BOT_USER_ID not in entry["users"]:
        raise ApiError("no_reaction")
    entry["users"].remove(BOT_USER_ID)
    entry["count"] = len(entry["users"])
    kept = [r for r in reactions if r["count"]]
    ctx.workspace.update_message(channel_id, ts, {"reactions": kept or None})
    return {}


def files_upload(ctx: ApiContext, p: Params) -> JSON:
    """``files.upload`` was retired by Slack in 2025; it answers ``method_deprecated``."""
    raise ApiError("method_deprecated")


def get_upload_url(ctx: ApiContext, p: Params) -> JSON:
    """``files.getUploadURLExternal``: step 1 of the upload flow ``files_upload_v2`` uses."""
    filename = p.req("filename")
    length = p.integer("length", -1)
    if length < 0:
        raise ApiError("invalid_arguments")
    file_id = new_id("F0", 9)
    with ctx.workspace.lock:
        ctx.workspace.files[file_id] = {
            "id": file_id,
            "name": filename,
            "size": length,
            "alt_txt": p.opt("alt_txt") or "",
        }
    return {"upload_url": f"{ctx.public_url}upload/{file_id}", "file_id": file_id}


def complete_upload(ctx: ApiContext, p: Params) -> JSON:
    """``files.completeUploadExternal``: share uploaded files, optionally in a channel."""
    wanted = p.json_value("files", "invalid_arguments")
    if not isinstance(wanted, list) or not wanted:
        raise ApiError("invalid_arguments")
    shared: list[JSON] = []
    with ctx.workspace.lock:
        for item in wanted:
            record = ctx.workspace.files.get(str(item.get("id")) if isinstance(item, dict) else "")
            if record is None or "content" not in record:
                raise ApiError("file_not_found")
            shared.append(
                {
                    "id": record["id"],
                    "created": int(time.time()),
                    "timestamp": int(time.time()),
                    "name": record["name"],
                    "title": item.get("title") or record["name"],
                    "user": BOT_USER_ID,
                    "size": len(record["content"]),
                    "mimetype": _mimetype(record["name"]),
                    "alt_txt": record.get("alt_txt", ""),
                    "url_private": f"{ctx.public_url}files/{record['id']}",
                    "permalink": f"{ctx.public_url}files/{record['id']}",
                }
            )
    channel_id = p.opt("channel_id")
    if channel_id is not None:
        channel = ctx.channel(p, "channel_id")
        message = bot_message(ctx.workspace.next_ts(), p.opt("initial_comment") or "", None)
        message["files"] = shared
        message["upload"] = True
        thread_ts = p.opt("thread_ts")
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        ctx.workspace.add_message(channel.id, message)
    return {"files": shared}


def _mimetype(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def upload_routes(ctx: ApiContext) -> list[Route]:
    """The ``upload_url`` target the raw file body is POSTed to, and ``/files/{id}`` to read it."""

    async def receive(request: Request) -> PlainTextResponse:
        file_id = request.path_params["file_id"]
        content = await request.body()
        with ctx.workspace.lock:
            record = ctx.workspace.files.get(file_id)
            if record is None:
                return PlainTextResponse("file_not_found", status_code=404)
            record["content"] = content
        return PlainTextResponse(f"OK - {len(content)}")

    async def serve(request: Request) -> Response:
        with ctx.workspace.lock:
            record = ctx.workspace.files.get(request.path_params["file_id"])
            content = None if record is None else record.get("content")
        if record is None or content is None:
            return PlainTextResponse("file_not_found", status_code=404)
        # Served as an attachment unless it is an image, so an uploaded page cannot run here.
        kind = _mimetype(str(record["name"]))
        inline = kind.startswith("image/") and kind != "image/svg+xml"
        headers = {"X-Content-Type-Options": "nosniff"}
        if not inline:
            headers["Content-Disposition"] = "attachment"
        return Response(
            content, media_type=kind if inline else "application/octet-stream", headers=headers
        )

    return [
        Route("/upload/{file_id}", receive, methods=["POST"]),
        Route("/files/{file_id}", serve, methods=["GET"]),
    ]


HANDLERS: dict[str, Handler] = {
    "chat.postMessage": post_message,
    "chat.update": update_message,
    "chat.delete": delete_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
    "reactions.add": add_reaction,
    "reactions.remove": remove_reaction,
    "files.upload": files_upload,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
}
"""Method name to handler for this module."""
