"""The people's side of the server: the web page, its JSON endpoints, and ``response_url``.

The page (``static/``) polls ``/ui/state`` for changes and posts what the chosen demo user does
to ``/ui/<action>``; those go through ``People``, the same path tests use, so a typed mention
becomes a signed ``app_mention`` delivery and a button becomes a real ``block_actions`` payload.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.localslack.directory import BOT_NAME, BOT_USER_ID, TEAM_ID, TEAM_NAME
from bot.localslack.guide import TryStep
from bot.localslack.people import People
from bot.localslack.state import JSON, new_id

STATIC_DIR = Path(__file__).parent / "static"
"""Where the page's HTML, JS and CSS are shipped."""
RESPONSE_URL_USES = 5
"""How many times Slack lets an app post to one ``response_url``."""
_AT_NAME = re.compile(r"(?<![<\w])@([a-z0-9._\-]+)")


def encode_mentions(text: str, people: People) -> str:
    """Turn typed ``@name`` into ``<@U…>`` as Slack's client does (unknown names stay)."""
    ids = {u.name: u.id for u in people.ws.users.values()}
    ids[BOT_NAME] = BOT_USER_ID

    def swap(match: re.Match[str]) -> str:
        user_id = ids.get(match.group(1))
        return f"<@{user_id}>" if user_id else match.group(0)

    return _AT_NAME.sub(swap, text)


def snapshot(
    people: People,
    user_id: str | None,
    try_this: list[TryStep],
    intro: str = "",
    session: str = "",
) -> JSON:
    """Everything the page shows, for one viewing user.

    ``session`` changes each time a workspace is created, so the page forgets which guide
    steps were done in an earlier run.
    """
    ws = people.ws
    with ws.lock:
        users = [
            {"id": u.id, "name": u.name, "real_name": u.real_name, "title": u.title}
            for u in ws.users.values()
        ]
        channels = [
            {"id": c.id, "name": c.name, "topic": c.topic, "members": sorted(c.members)}
            for c in sorted(ws.channels.values(), key=lambda c: c.name)
            if not c.is_im
        ]
        ephemerals = [
            dict(e["message"], channel=e["channel"]) for e in ws.ephemerals if e["user"] == user_id
        ]
        stack = ws.modal_stack.get(user_id or "", [])
        modal = ws.views.get(stack[-1]) if stack else None
        home_id = ws.home_view.get(user_id or "")
        result: JSON = {
            "changed": True,
            "version": ws.version,
            "team": {"id": TEAM_ID, "name": TEAM_NAME},
            "bot": {"id": BOT_USER_ID, "name": BOT_NAME},
            "users": users,
            "channels": channels,
            "messages": {cid: list(msgs) for cid, msgs in ws.messages.items()},
            "ephemerals": ephemerals,
            "modal": modal,
            "modal_errors": ws.view_errors.get(modal["id"], {}) if modal else {},
            "home": ws.views.get(home_id) if home_id else None,
            "dm": "D" + user_id[1:] if user_id in ws.users else None,
            "try_this": [step.model_dump() for step in try_this],
            "intro": intro,
            "session": session,
        }
        # Serialise under the lock so the page never sees a half-applied change.
        return json.loads(json.dumps(result))  # type: ignore[no-any-return]


def ui_routes(
    people: People,
    try_this: list[TryStep],
    intro: str = "",
    *,
    token: str = "",
    actions: Mapping[str, Callable[[], str]] | None = None,
) -> list[BaseRoute]:
    """Routes for the page, its actions, permalinks and ``response_url`` posts.

    ``token`` is written into the page (``<meta name="opshand-ui-token">``); the page sends it
    back with each action (:mod:`bot.localslack.guard` checks it). ``actions`` are the step
    actions ``POST /ui/step`` runs by name (``{"name": ...}``), answering ``{"text": ...}``.
    """
    steps = dict(actions or {})
    ws = people.ws
    session = new_id("W", 10)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace(
        "<head>",
        f'<head>\n  <meta name="opshand-ui-token" content="{html.escape(token, quote=True)}">',
        1,
    )

    async def index(request: Request) -> Response:
        # Not cached and not framed: the token is for this page only.
        return HTMLResponse(
            page,
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Content-Security-Policy": "frame-ancestors 'none'",
            },
        )

    async def state(request: Request) -> JSONResponse:
        user_id = request.query_params.get("user")
        since = request.query_params.get("since")
        if since is not None and since == str(ws.version):
            return JSONResponse({"changed": False, "version": ws.version})
        return JSONResponse(snapshot(people, user_id, try_this, intro, session))

    async def act(request: Request) -> JSONResponse:
        action = request.path_params["action"]
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "the body must be JSON"}, status_code=400)
        if action == "step" and isinstance(body, dict):
            run = steps.get(str(body.get("name")))
            if run is None:
                return JSONResponse({"ok": False, "error": "unknown step action"}, 400)
            return JSONResponse({"ok": True, "text": await run_in_threadpool(run)})
        if not isinstance(body, dict) or action not in _ACTIONS:
            return JSONResponse({"ok": False, "error": f"unknown action {action!r}"}, 400)
        try:
            result = await run_in_threadpool(_ACTIONS[action], people, body)
        except (KeyError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": f"missing or bad field: {exc}"}, 400)
        except ValueError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, **result})

    async def respond(request: Request) -> JSONResponse:
        token = request.path_params["token"]
        with ws.lock:
            target = ws.response_targets.get(token)
            if target is None:
                return JSONResponse({"ok": False, "error": "expired_url"}, status_code=404)
            if target.uses >= RESPONSE_URL_USES:
                return JSONResponse({"ok": False, "error": "used_url"}, status_code=404)
            target.uses += 1
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        if not body.get("delete_original") and not body.get("text") and not body.get("blocks"):
            return JSONResponse({"ok": False, "error": "no_text"}, status_code=400)
        ws.record_call("response_url", body)  # tests read what the app sent (``calls()``)
        people.respond(target, body)
        return JSONResponse({"ok": True})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def permalink(request: Request) -> RedirectResponse:
        channel = request.path_params["channel"]
        return RedirectResponse(f"/#{channel}", status_code=302)

    return [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/ui/state", state),
        Route("/ui/{action}", act, methods=["POST"]),
        Route("/response/{token}", respond, methods=["POST"]),
        Route("/archives/{channel}/{ts}", permalink),
    ]


def _send(people: People, body: dict[str, Any]) -> JSON:
    text = str(body["text"]).strip()
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        status = people.slash(body["user"], body["channel"], command, rest)
        return {"status": status}
    ts = people.send_message(
        body["user"], body["channel"], encode_mentions(text, people), body.get("thread_ts")
    )
    return {"ts": ts}


def _click(people: People, body: dict[str, Any]) -> JSON:
    value = body.get("value")
    if body.get("view_id"):
        status = people.click_view(body["user"], body["view_id"], body["action_id"], value)
    else:
        status = people.click(
            body["user"], body["channel"], body["message_ts"], body["action_id"], value
        )
    return {"status": status}


def _submit(people: People, body: dict[str, Any]) -> JSON:
    values = body.get("values") or {}
    return {"status": people.submit_view(body["user"], body["view_id"], values)}


def _close(people: People, body: dict[str, Any]) -> JSON:
    return {"status": people.close_view(body["user"], body["view_id"])}


def _home(people: People, body: dict[str, Any]) -> JSON:
    return {"status": people.open_home(body["user"])}


_ACTIONS = {"send": _send, "click": _click, "submit": _submit, "close": _close, "home": _home}
