"""Web API methods for surfaces: ``views.open``, ``.push``, ``.update`` and ``.publish``.

Modals need a fresh ``trigger_id`` (valid 3 s, usable once); each user has a stack of at most
three modals and one Home tab. Views are stored in Slack's view shape (``id``, ``hash``,
``state.values`` ...), which is also what interaction payloads carry back to the bot.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from bot.localslack.blockkit import assign_ids, check_view
from bot.localslack.directory import APP_ID, BOT_ID, TEAM_ID
from bot.localslack.state import JSON, Workspace, new_id
from bot.localslack.webapi import ApiContext, ApiError, Handler, Params, invalid

MODAL_STACK_LIMIT = 3
"""Most modals Slack stacks for one user."""


def _new_hash() -> str:
    return f"{time.time():.0f}.{new_id('', 8).lower()}"


def _view_spec(p: Params, kind: str) -> JSON:
    spec = p.json_value("view", "invalid_arguments")
    if spec is None:
        raise ApiError("invalid_arguments")
    errors = check_view(spec)
    if not errors and spec.get("type") != kind:
        errors = [f"[ERROR] must be {kind} [json-pointer:/view/type]"]
    if errors:
        raise invalid("invalid_arguments", errors)
    return dict(spec)


def build_view(
    spec: Mapping[str, Any], *, view_id: str, root_id: str, previous: str | None
) -> JSON:
    """A stored view in Slack's shape, from the spec the app sent."""
    return {
        "id": view_id,
        "team_id": TEAM_ID,
        "type": spec["type"],
        "blocks": assign_ids(list(spec.get("blocks", []))),
        "private_metadata": spec.get("private_metadata", ""),
        "callback_id": spec.get("callback_id", ""),
        "state": {"values": {}},
        "hash": _new_hash(),
        "title": spec.get("title", {"type": "plain_text", "text": "App Home"}),
        "clear_on_close": bool(spec.get("clear_on_close", False)),
        "notify_on_close": bool(spec.get("notify_on_close", False)),
        "close": spec.get("close"),
        "submit": spec.get("submit"),
        "previous_view_id": previous,
        "root_view_id": root_id,
        "app_id": APP_ID,
        "external_id": spec.get("external_id", ""),
        "app_installed_team_id": TEAM_ID,
        "bot_id": BOT_ID,
    }


def _use_trigger(ctx: ApiContext, p: Params) -> str:
    # Slack's documented answer to an unknown trigger is invalid_arguments with this message.
    unknown = invalid("invalid_arguments", ["invalid `trigger_id`"])
    trigger_id = p.opt("trigger_id")
    with ctx.workspace.lock:
        trigger = ctx.workspace.triggers.get(trigger_id or "")
        if trigger is None:
            raise unknown
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > ctx.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id


def views_open(ctx: ApiContext, p: Params) -> JSON:
    """``views.open``: a new modal stack for the user behind the trigger."""
    spec = _view_spec(p, "modal")
    user_id = _use_trigger(ctx, p)
    view_id = new_id("V0", 9)
    view = build_view(spec, view_id=view_id, root_id=view_id, previous=None)
    ws = ctx.workspace
    with ws.lock:
        for old in ws.modal_stack.get(user_id, []):
            ws.views.pop(old, None)
        ws.views[view_id] = view
        ws.view_owner[view_id] = user_id
        ws.modal_stack[user_id] = [view_id]
        ws.touch()
    return {"view": copy.deepcopy(view)}


def views_push(ctx: ApiContext, p: Params) -> JSON:
    """``views.push``: put a modal on top of the user's open one."""
    spec = _view_spec(p, "modal")
    user_id = _use_trigger(ctx, p)
    ws = ctx.workspace
    with ws.lock:
        stack = ws.modal_stack.get(user_id, [])
        if not stack:
            raise ApiError("invalid_arguments")
        if len(stack) >= MODAL_STACK_LIMIT:
            raise ApiError("push_limit_reached")
        view_id = new_id("V0", 9)
        view = build_view(spec, view_id=view_id, root_id=stack[0], previous=stack[-1])
        ws.views[view_id] = view
        ws.view_owner[view_id] = user_id
        stack.append(view_id)
        ws.touch()
    return {"view": copy.deepcopy(view)}


def _find_view(ws: Workspace, p: Params) -> str:
    view_id = p.opt("view_id")
    external_id = p.opt("external_id")
    if view_id is None and external_id is not None:
        view_id = next((k for k, v in ws.views.items() if v["external_id"] == external_id), None)
    if view_id is None or view_id not in ws.views:
        raise ApiError("not_found")
    return view_id


def views_update(ctx: ApiContext, p: Params) -> JSON:
    """``views.update`` by ``view_id`` or ``external_id``, honouring ``hash``."""
    ws = ctx.workspace
    with ws.lock:
        view_id = _find_view(ws, p)
        current = ws.views[view_id]
        spec = _view_spec(p, current["type"])
        expected = p.opt("hash")
        if expected is not None and expected != current["hash"]:
            raise ApiError("hash_conflict")
        view = build_view(
            spec,
            view_id=view_id,
            root_id=current["root_view_id"],
            previous=current["previous_view_id"],
        )
        ws.views[view_id] = view
        ws.touch()
        return {"view": copy.deepcopy(view)}


def views_publish(ctx: ApiContext, p: Params) -> JSON:
    """``views.publish``: set a user's Home tab."""
    user_id = p.req("user_id")
    if user_id not in ctx.workspace.users:
        raise invalid(
            "invalid_arguments", [f"[ERROR] unknown user {user_id} [json-pointer:/user_id]"]
        )
    spec = _view_spec(p, "home")
    ws = ctx.workspace
    with ws.lock:
        view_id = ws.home_view.get(user_id) or new_id("V0", 9)
        current = ws.views.get(view_id)
        expected = p.opt("hash")
        if current is not None and expected is not None and expected != current["hash"]:
            raise ApiError("hash_conflict")
        view = build_view(spec, view_id=view_id, root_id=view_id, previous=None)
        ws.views[view_id] = view
        ws.view_owner[view_id] = user_id
        ws.home_view[user_id] = view_id
        ws.touch()
    return {"view": copy.deepcopy(view)}


def close_modal(ws: Workspace, user_id: str, *, all_views: bool = True) -> None:
    """Close the user's top modal, or the whole stack (what a submit with no answer does)."""
    with ws.lock:
        stack = ws.modal_stack.get(user_id, [])
        closing = list(stack) if all_views else stack[-1:]
        for view_id in closing:
            stack.remove(view_id)
            ws.views.pop(view_id, None)
            ws.view_owner.pop(view_id, None)
            ws.view_errors.pop(view_id, None)
        ws.touch()


HANDLERS: dict[str, Handler] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
"""Method name to handler for this module."""
