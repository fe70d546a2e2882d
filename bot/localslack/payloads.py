"""Builders for what Slack sends an app: Events API envelopes, interaction payloads, commands.

Shapes follow Slack's reference pages for the Events API (``event_callback``), ``block_actions``,
``view_submission`` and slash commands. Only pure functions live here; sending is ``delivery``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from bot.localslack.directory import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID
from bot.localslack.state import JSON, new_id

VERIFICATION_TOKEN = "local-verification-token"  # noqa: S105 - a fixed fake, not a secret
"""The legacy verification ``token`` field Slack still puts in payloads."""

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def rich_text_blocks(text: str) -> list[JSON]:
    """Return the ``rich_text`` block Slack's client attaches to a typed message."""
    elements: list[JSON] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return [
        {
            "type": "rich_text",
            "block_id": new_id("", 5).lower(),
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def mentions(text: str) -> list[str]:
    """User ids mentioned as ``<@U…>`` in ``text``, in order."""
    return [m.group(1) for m in _MENTION.finditer(text)]


def user_message(
    *,
    user_id: str,
    text: str,
    ts: str,
    thread_ts: str | None,
    parent_user_id: str | None,
    user_team: str = TEAM_ID,
) -> JSON:
    """The stored form of a message a person typed.

    ``user_team`` is the author's own team; in a Slack Connect channel an external person's
    messages carry their organisation's (``team``/``user_team``/``source_team``, as Slack sends).
    """
    message: JSON = {
        "type": "message",
        "user": user_id,
        "text": text,
        "ts": ts,
        "team": user_team,
        "user_team": user_team,
        "source_team": user_team,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": rich_text_blocks(text),
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
        if parent_user_id is not None:
            message["parent_user_id"] = parent_user_id
    return message


def event_envelope(event: JSON, *, bot_user_id: str = BOT_USER_ID) -> JSON:
    """Wrap an inner event in Slack's ``event_callback`` envelope."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": new_id("Ev0", 9),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + uuid.uuid4().hex,
    }


def message_event(message: JSON, *, channel_id: str, event_type: str) -> JSON:
    """The inner ``message`` or ``app_mention`` event for a stored user message."""
    event: JSON = {
        "type": event_type,
        "user": message["user"],
        "text": message["text"],
        "ts": message["ts"],
        "team": message.get("team", TEAM_ID),
        "user_team": message.get("user_team", TEAM_ID),
        "source_team": message.get("source_team", TEAM_ID),
        "client_msg_id": message["client_msg_id"],
        "blocks": message["blocks"],
        "channel": channel_id,
        "event_ts": message["ts"],
    }
    if event_type == "message":
        event["channel_type"] = "channel"
    if "thread_ts" in message:
        event["thread_ts"] = message["thread_ts"]
        if "parent_user_id" in message:
            event["parent_user_id"] = message["parent_user_id"]
    return event


def app_home_opened_event(*, user_id: str, dm_channel: str, view: JSON | None) -> JSON:
    """The inner ``app_home_opened`` event (``view`` only when a home was published)."""
    event: JSON = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": dm_channel,
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return event


def user_ref(user: JSON) -> JSON:
    """The ``user`` object of interaction payloads."""
    team = user.get("team_id") or TEAM_ID  # an external (Slack Connect) person's own team
    return {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": team}


def team_ref() -> JSON:
    """The ``team`` object of interaction payloads."""
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def button_action(block_id: str, element: Mapping[str, Any], value: str | None) -> JSON:
    """One entry of ``actions`` for a clicked button."""
    action: JSON = {
        "action_id": element["action_id"],
        "block_id": block_id,
        "text": element.get("text", {"type": "plain_text", "text": ""}),
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    chosen = value if value is not None else element.get("value")
    if chosen is not None:
        action["value"] = chosen
    if "style" in element:
        action["style"] = element["style"]
    return action


def block_actions_payload(
    *,
    user: JSON,
    action: JSON,
    trigger_id: str,
    container: JSON,
    channel: JSON | None = None,
    message: JSON | None = None,
    view: JSON | None = None,
    response_url: str | None = None,
    state_values: JSON | None = None,
) -> JSON:
    """A ``block_actions`` interaction payload (from a message, or from a view)."""
    payload: JSON = {
        "type": "block_actions",
        "user": user_ref(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id,
        "team": team_ref(),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": state_values or {}},
        "actions": [action],
    }
    if channel is not None:
        payload["channel"] = channel
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def view_submission_payload(*, user: JSON, view: JSON, trigger_id: str) -> JSON:
    """A ``view_submission`` interaction payload; ``view.state.values`` is already filled."""
    return {
        "type": "view_submission",
        "team": team_ref(),
        "user": user_ref(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def slash_command_form(
    *,
    user: JSON,
    channel: JSON,
    command: str,
    text: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command request."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel["id"],
        "channel_name": channel["name"],
        "user_id": user["id"],
        "user_name": user["name"],
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def input_state(element: Mapping[str, Any], value: Any) -> JSON:
    """``view.state.values[block][action]`` for an input element given a plain value.

    Strings suit text inputs, dates, and single selects (matched against option values);
    a list of strings suits checkboxes and multi selects.
    """
    kind = str(element.get("type", "plain_text_input"))
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        return {"type": kind, "value": None if value is None else str(value)}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind in ("users_select", "conversations_select", "channels_select"):
        key = {"users_select": "selected_user", "channels_select": "selected_channel"}.get(
            kind, "selected_conversation"
        )
        return {"type": kind, key: value}
    options = list(element.get("options", []))
    if kind in ("static_select", "radio_buttons"):
        picked = next((o for o in options if o.get("value") == value), None)
        if value is not None and picked is None:
            raise ValueError(f"{value!r} is not an option of {element.get('action_id')!r}")
        return {"type": kind, "selected_option": picked}
    if kind in ("checkboxes", "multi_static_select"):
        wanted = list(value or [])
        chosen = [o for o in options if o.get("value") in wanted]
        if len(chosen) != len(wanted):
            raise ValueError(f"{wanted!r} are not all options of {element.get('action_id')!r}")
        return {"type": kind, "selected_options": chosen}
    raise ValueError(f"input element type {kind!r} is not supported by the local workspace")
