"""Web API methods that read the workspace: ``auth``, ``conversations``, ``users``, groups."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Sequence
from typing import TypeVar

from bot.localslack.directory import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    CHANNEL_NAME_PATTERN,
    TEAM_ID,
    TEAM_NAME,
)
from bot.localslack.state import JSON, Channel, new_id
from bot.localslack.webapi import ApiContext, ApiError, Handler, Params, bot_in

T = TypeVar("T")
_NAME = re.compile(CHANNEL_NAME_PATTERN)


def paginate(items: Sequence[T], p: Params, *, default: int, most: int) -> tuple[list[T], str]:
    """Cut one page by Slack's ``limit``/``cursor``; returns the page and the next cursor."""
    limit = p.integer("limit", default) or default
    if limit < 1:
        raise ApiError("invalid_limit")
    limit = min(limit, most)
    start = 0
    cursor = p.opt("cursor")
    if cursor is not None:
        try:
            kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
            start = int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError("invalid_cursor") from None
        if kind != "next" or start < 0:
            raise ApiError("invalid_cursor")
    end = start + limit
    next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return list(items[start:end]), next_cursor


def auth_test(ctx: ApiContext, p: Params) -> JSON:
    """``auth.test`` for the bot token."""
    return {
        "url": ctx.public_url or "http://127.0.0.1/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def api_test(ctx: ApiContext, p: Params) -> JSON:
    """``api.test`` echoes its arguments under ``args``."""
    return {"args": p.data} if p.data else {}


def _visible(channel: Channel) -> bool:
    # A bot token sees every public channel but only the private ones it was added to.
    return not channel.is_private or bot_in(channel)


def conversations_list(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.list`` (``types``, ``exclude_archived``, ``limit``, ``cursor``)."""
    types = set((p.opt("types") or "public_channel").split(","))
    unknown = types - {"public_channel", "private_channel", "mpim", "im"}
    if unknown:
        raise ApiError("invalid_types")
    with ctx.workspace.lock:
        picked = [
            c
            for c in sorted(ctx.workspace.channels.values(), key=lambda c: c.id)
            if _visible(c)
            and _kind(c) in types
            and not (c.is_archived and p.flag("exclude_archived"))
        ]
        page, cursor = paginate(picked, p, default=100, most=1000)
        return {
            "channels": [c.to_json() for c in page],
            "response_metadata": {"next_cursor": cursor},
        }


def _kind(channel: Channel) -> str:
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def conversations_open(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.open`` for a direct message between the bot and one person."""
    channel_id = p.opt("channel")
    users = [u for u in (p.opt("users") or "").split(",") if u]
    if channel_id is None and not users:
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise ApiError("not_supported")  # group DMs are outside the local workspace
    ref = channel_id or users[0]
    if channel_id is None and ref not in ctx.workspace.users:
        raise ApiError("user_not_found")
    with ctx.workspace.lock:
        existed = ("D" + ref[1:]) in ctx.workspace.channels or ref in ctx.workspace.channels
        channel = ctx.workspace.lookup_channel(ref)
        if channel is None or not channel.is_im:
            raise ApiError("channel_not_found")
    result: JSON = {"channel": {"id": channel.id}}
    if existed:
        result["no_op"] = True
        result["already_open"] = True
    if p.flag("return_im"):
        result["channel"] = channel.to_json()
    return result


def _readable(ctx: ApiContext, p: Params) -> Channel:
    channel = ctx.channel(p)
    if not _visible(channel):
        raise ApiError("channel_not_found")
    return channel


def conversations_info(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.info``."""
    return {"channel": _readable(ctx, p).to_json()}


def conversations_create(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.create``: the bot creates and joins a channel."""
    name = p.opt("name")
    if name is None:
        raise ApiError("invalid_name_required")
    if len(name) > 80:
        raise ApiError("invalid_name_maxlength")
    if not _NAME.match(name):
        raise ApiError("invalid_name_specials")
    if ctx.workspace.channel_by_name(name) is not None:
        raise ApiError("name_taken")
    channel = Channel(
        id=new_id("C0", 9),
        name=name,
        topic="",
        purpose="",
        is_private=p.flag("is_private"),
        members={BOT_USER_ID},
        created=int(time.time()),
        creator=BOT_USER_ID,
    )
    with ctx.workspace.lock:
        ctx.workspace.channels[channel.id] = channel
        ctx.workspace.touch()
    return {"channel": channel.to_json()}


def conversations_join(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.join`` (public channels only)."""
    channel = _readable(ctx, p)
    if channel.is_private:
        raise ApiError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise ApiError("is_archived")
    with ctx.workspace.lock:
        already = bot_in(channel)
        channel.members.add(BOT_USER_ID)
        ctx.workspace.touch()
    result: JSON = {"channel": channel.to_json()}
    if already:
        result["warning"] = "already_in_channel"
        result["response_metadata"] = {"warnings": ["already_in_channel"]}
    return result


def conversations_members(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.members``."""
    channel = _readable(ctx, p)
    page, cursor = paginate(sorted(channel.members), p, default=100, most=1000)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _in_window(ts: str, p: Params) -> bool:
    inclusive = p.flag("inclusive")
    value = float(ts)
    latest, oldest = p.opt("latest"), p.opt("oldest")
    try:
        if latest is not None and (
            value > float(latest) or (not inclusive and value == float(latest))
        ):
            return False
        if oldest is not None and (
            value < float(oldest) or (not inclusive and value == float(oldest))
        ):
            return False
    except ValueError:
        raise ApiError("invalid_ts_latest" if latest else "invalid_ts_oldest") from None
    return True


def _shown(messages: list[JSON], p: Params) -> list[JSON]:
    """Messages as the caller may see them: metadata only with ``include_all_metadata``."""
    if p.flag("include_all_metadata"):
        return messages
    return [{k: v for k, v in m.items() if k != "metadata"} for m in messages]


def conversations_history(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.history``: top-level messages, newest first (metadata on request)."""
    channel = _readable(ctx, p)
    if not bot_in(channel):
        raise ApiError("not_in_channel")
    messages = [m for m in ctx.workspace.channel_messages(channel.id) if _in_window(m["ts"], p)]
    messages.reverse()
    page, cursor = paginate(messages, p, default=100, most=999)
    return {
        "messages": _shown(page, p),
        "has_more": bool(cursor),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def conversations_replies(ctx: ApiContext, p: Params) -> JSON:
    """``conversations.replies``: the parent then its replies, oldest first (metadata on
    request)."""
    channel = _readable(ctx, p)
    ts = p.req("ts", "thread_not_found")
    if ctx.workspace.find_message(channel.id, ts) is None:
        raise ApiError("thread_not_found")
    thread = [m for m in ctx.workspace.channel_messages(channel.id, ts) if _in_window(m["ts"], p)]
    page, cursor = paginate(thread, p, default=1000, most=1000)
    return {
        "messages": _shown(page, p),
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def users_info(ctx: ApiContext, p: Params) -> JSON:
    """``users.info``."""
    user = ctx.workspace.user_json(p.req("user", "user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user}


def users_list(ctx: ApiContext, p: Params) -> JSON:
    """``users.list`` (the demo users and the bot)."""
    ids = [*sorted(ctx.workspace.users), BOT_USER_ID]
    page, cursor = paginate(ids, p, default=0, most=1000) if p.opt("limit") else (ids, "")
    members = [u for u in (ctx.workspace.user_json(i) for i in page) if u is not None]
    return {
        "members": members,
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": cursor},
    }


def users_lookup_by_email(ctx: ApiContext, p: Params) -> JSON:
    """``users.lookupByEmail``."""
    email = p.req("email", "users_not_found").lower()
    for user_id in ctx.workspace.users:
        user = ctx.workspace.user_json(user_id)
        if user is not None and user["profile"]["email"].lower() == email:
            return {"user": user}
    raise ApiError("users_not_found")


def usergroups_list(ctx: ApiContext, p: Params) -> JSON:
    """``usergroups.list`` (``include_users`` adds member ids)."""
    groups: list[JSON] = []
    for group in ctx.workspace.usergroups.values():
        record: JSON = {
            "id": group.id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "is_subteam": True,
            "name": group.name,
            "description": "",
            "handle": group.handle,
            "is_external": False,
            "date_create": 0,
            "date_update": 0,
            "date_delete": 0,
            "auto_type": None,
            "created_by": BOT_USER_ID,
            "updated_by": BOT_USER_ID,
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
            "user_count": len(group.users),
        }
        if p.flag("include_users"):
            record["users"] = list(group.users)
        groups.append(record)
    return {"usergroups": groups}


def usergroups_users_list(ctx: ApiContext, p: Params) -> JSON:
    """``usergroups.users.list``."""
    group = ctx.workspace.usergroups.get(p.req("usergroup", "no_such_subteam"))
    if group is None:
        raise ApiError("no_such_subteam")
    return {"users": list(group.users)}


HANDLERS: dict[str, Handler] = {
    "api.test": api_test,
    "auth.test": auth_test,
    "conversations.list": conversations_list,
    "conversations.info": conversations_info,
    "conversations.create": conversations_create,
    "conversations.join": conversations_join,
    "conversations.open": conversations_open,
    "conversations.members": conversations_members,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "users.list": users_list,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
}
"""Method name to handler for this module."""
