"""What people in the workspace do: type, click, submit, run commands, open the Home tab.

Each action changes the workspace as Slack's client would, then delivers the matching request
to the bot through ``Deliverer`` and returns once the bot answered (or the deadline passed).
Mistakes in the call (unknown user, no such button) raise ``ValueError`` naming what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from bot.localslack import payloads
from bot.localslack.api_chat import bot_message
from bot.localslack.api_views import build_view, close_modal
from bot.localslack.delivery import Deliverer
from bot.localslack.directory import BOT_USER_ID
from bot.localslack.state import JSON, Channel, ResponseTarget, new_id
from bot.localslack.webapi import ApiContext

NO_ANSWER = 0
"""Status returned when nothing was delivered or the bot did not answer in time."""


class People:
    """The demo users' hands: each method is one thing a person does in Slack."""

    def __init__(self, ctx: ApiContext, deliverer: Deliverer, events: Collection[str]) -> None:
        """Bind to the workspace (through ``ctx``) and the bot (through ``deliverer``).

        Args:
            ctx: The Web API context (workspace, public URL, triggers).
            deliverer: Sends signed requests to the bot.
            events: Event types the app subscribes to (``app_mention``, ``message``,
                ``app_home_opened``).
        """
        self.ctx = ctx
        self.ws = ctx.workspace
        self.deliverer = deliverer
        self.events = frozenset(events)

    # -- lookups ------------------------------------------------------------------------

    def user(self, user_id: str) -> JSON:
        """The user object, or ``ValueError`` for an unknown id."""
        if not isinstance(user_id, str):
            raise ValueError(f"a user id must be a string, not {user_id!r}")
        user = self.ws.user_json(user_id) if user_id in self.ws.users else None
        if user is None:
            raise ValueError(f"unknown user {user_id!r}; known: {sorted(self.ws.users)}")
        return user

    def channel(self, channel: str) -> Channel:
        """A channel by id or ``#name``, or ``ValueError``."""
        if not isinstance(channel, str):
            raise ValueError(f"a channel must be an id or a name, not {channel!r}")
        found = self.ws.lookup_channel(channel) or self.ws.channel_by_name(channel)
        if found is None:
            raise ValueError(f"unknown channel {channel!r}")
        return found

    def _response_url(self, target: ResponseTarget) -> str:
        token = new_id("", 24).lower()
        with self.ws.lock:
            self.ws.response_targets[token] = target
        return f"{self.ctx.public_url}response/{token}"

    # -- messages -----------------------------------------------------------------------

    def send_message(self, user_id: str, channel: str, text: str, thread_ts: str | None) -> str:
        """Post as a person; deliver ``app_mention`` / ``message`` events. Returns the ts."""
        user = self.user(user_id)
        ch = self.channel(channel)
        if user_id not in ch.members:
            raise ValueError(f"{user['name']} is not a member of #{ch.name}")
        if not text.strip():
            raise ValueError("a message needs some text")
        parent_user: str | None = None
        if thread_ts is not None:
            parent = self.ws.find_message(ch.id, thread_ts)
            if parent is None:
                raise ValueError(f"no message {thread_ts} in #{ch.name} to reply to")
            thread_ts = parent.get("thread_ts") or thread_ts
            parent_user = str(parent.get("user", ""))
        message = payloads.user_message(
            user_id=user_id,
            text=text,
            ts=self.ws.next_ts(),
            thread_ts=thread_ts,
            parent_user_id=parent_user,
            user_team=str(user["team_id"]),
        )
        stored = self.ws.add_message(ch.id, message)
        if self.deliverer.bot_url is None or BOT_USER_ID not in ch.members:
            return str(stored["ts"])
        if ch.is_im:
            if self.events & {"message", "message.im"}:
                event = payloads.message_event(stored, channel_id=ch.id, event_type="message")
                event["channel_type"] = "im"
                self.deliverer.deliver_event(payloads.event_envelope(event))
        else:
            if self.events & {"message", "message.channels"}:
                event = payloads.message_event(stored, channel_id=ch.id, event_type="message")
                self.deliverer.deliver_event(payloads.event_envelope(event))
            if "app_mention" in self.events and BOT_USER_ID in payloads.mentions(text):
                event = payloads.message_event(stored, channel_id=ch.id, event_type="app_mention")
                self.deliverer.deliver_event(payloads.event_envelope(event))
        return str(stored["ts"])

    # -- buttons ------------------------------------------------------------------------

    def click(
        self, user_id: str, channel: str, message_ts: str, action_id: str, value: str | None
    ) -> int:
        """Click a button on a message (or on an ephemeral message the user sees)."""
        user = self.user(user_id)
        ch = self.channel(channel)
        message = self.ws.find_message(ch.id, message_ts)
        ephemeral = False
        if message is None:
            message = self._ephemeral(user_id, ch.id, message_ts)
            ephemeral = True
        block_id, element = _find_element(_message_blocks(message), action_id, message_ts)
        container: JSON = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": ch.id,
            "is_ephemeral": ephemeral,
        }
        attachment = _attachment_of(message, block_id)
        if attachment is not None:  # Slack names the attachment a button sits in
            container.update(type="message_attachment", attachment_id=attachment)
            container["is_app_unfurl"] = False
        if "thread_ts" in message:
            container["thread_ts"] = message["thread_ts"]
        target = ResponseTarget(
            user_id=user_id,
            channel_id=ch.id,
            message_ts=message_ts,
            thread_ts=message.get("thread_ts"),
        )
        payload = payloads.block_actions_payload(
            user=user,
            action=payloads.button_action(block_id, element, value),
            trigger_id=self.ctx.new_trigger(user_id),
            container=container,
            channel={"id": ch.id, "name": ch.name},
            message=None if ephemeral else message,
            response_url=self._response_url(target),
        )
        return self.deliverer.deliver_interaction(payload).status

    def _ephemeral(self, user_id: str, channel_id: str, ts: str) -> JSON:
        with self.ws.lock:
            for item in self.ws.ephemerals:
                same_place = item["user"] == user_id and item["channel"] == channel_id
                if same_place and item["message"]["ts"] == ts:
                    return dict(item["message"])
        raise ValueError(f"no message {ts} in channel {channel_id} that {user_id} can see")

    def click_view(self, user_id: str, view_id: str, action_id: str, value: str | None) -> int:
        """Click a button in a modal or the Home tab."""
        user = self.user(user_id)
        view = self._owned_view(user_id, view_id)
        block_id, element = _find_element(view.get("blocks", []), action_id, view_id)
        payload = payloads.block_actions_payload(
            user=user,
            action=payloads.button_action(block_id, element, value),
            trigger_id=self.ctx.new_trigger(user_id),
            container={"type": "view", "view_id": view_id},
            view=view,
            state_values=view["state"]["values"],
        )
        return self.deliverer.deliver_interaction(payload).status

    def _owned_view(self, user_id: str, view_id: str) -> JSON:
        with self.ws.lock:
            if self.ws.view_owner.get(view_id) != user_id:
                raise ValueError(f"{user_id} has no open view {view_id!r}")
            return json.loads(json.dumps(self.ws.views[view_id]))  # type: ignore[no-any-return]

    # -- slash commands -----------------------------------------------------------------

    def slash(self, user_id: str, channel: str, command: str, text: str) -> int:
        """Run ``/command text`` in a channel; an answer in the ack body is shown as Slack does."""
        user = self.user(user_id)
        ch = self.channel(channel)
        if not command.startswith("/") or " " in command:
            raise ValueError(f"slash command {command!r} must look like /name")
        target = ResponseTarget(user_id=user_id, channel_id=ch.id)
        form = payloads.slash_command_form(
            user=user,
            channel={"id": ch.id, "name": ch.name},
            command=command,
            text=text,
            trigger_id=self.ctx.new_trigger(user_id),
            response_url=self._response_url(target),
        )
        result = self.deliverer.deliver_command(form)
        if result.ok and result.body.strip():
            self.respond(target, _ack_body(result.body))
        return result.status

    # -- modals and home ----------------------------------------------------------------

    def submit_view(self, user_id: str, view_id: str, values: Mapping[str, Any]) -> int:
        """Submit a modal; ``values`` by action id, or as ``{block_id: {action_id: v}}``."""
        user = self.user(user_id)
        view = self._owned_view(user_id, view_id)
        if view["type"] != "modal":
            raise ValueError(f"view {view_id} is a {view['type']}, not a modal")
        view["state"] = {"values": _state_values(view, values)}
        with self.ws.lock:
            self.ws.views[view_id]["state"] = view["state"]
        payload = payloads.view_submission_payload(
            user=user, view=view, trigger_id=self.ctx.new_trigger(user_id)
        )
        result = self.deliverer.deliver_interaction(payload)
        if result.ok:
            self._apply_response_action(user_id, view, result.body)
        return result.status

    def _apply_response_action(self, user_id: str, view: JSON, body: str) -> None:
        answer = _ack_body(body) if body.strip() else {}
        action = answer.get("response_action")
        with self.ws.lock:
            if action == "errors":
                self.ws.view_errors[view["id"]] = dict(answer.get("errors", {}))
                self.ws.touch()
            elif action == "update" and isinstance(answer.get("view"), dict):
                self.ws.views[view["id"]] = build_view(
                    answer["view"],
                    view_id=view["id"],
                    root_id=view["root_view_id"],
                    previous=view["previous_view_id"],
                )
                self.ws.view_errors.pop(view["id"], None)
                self.ws.touch()
            elif action == "push" and isinstance(answer.get("view"), dict):
                pushed = new_id("V0", 9)
                self.ws.views[pushed] = build_view(
                    answer["view"],
                    view_id=pushed,
                    root_id=view["root_view_id"],
                    previous=view["id"],
                )
                self.ws.view_owner[pushed] = user_id
                self.ws.modal_stack.setdefault(user_id, []).append(pushed)
                self.ws.touch()
            else:
                close_modal(self.ws, user_id, all_views=action == "clear")

    def close_view(self, user_id: str, view_id: str) -> int:
        """Press Cancel on a modal; sends ``view_closed`` when the app asked for it."""
        user = self.user(user_id)
        view = self._owned_view(user_id, view_id)
        close_modal(self.ws, user_id, all_views=False)
        if not view.get("notify_on_close") or self.deliverer.bot_url is None:
            return NO_ANSWER
        payload: JSON = {
            "type": "view_closed",
            "team": payloads.team_ref(),
            "user": payloads.user_ref(user),
            "api_app_id": view["app_id"],
            "token": payloads.VERIFICATION_TOKEN,
            "view": view,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.deliverer.deliver_interaction(payload).status

    def open_home(self, user_id: str) -> int:
        """Open the app's Home tab; delivers ``app_home_opened`` when subscribed."""
        self.user(user_id)
        if "app_home_opened" not in self.events or self.deliverer.bot_url is None:
            return NO_ANSWER
        with self.ws.lock:
            view_id = self.ws.home_view.get(user_id)
            view = json.loads(json.dumps(self.ws.views[view_id])) if view_id else None
        event = payloads.app_home_opened_event(
            user_id=user_id, dm_channel="D" + user_id[1:], view=view
        )
        return self.deliverer.deliver_event(payloads.event_envelope(event)).status

    # -- response_url -------------------------------------------------------------------

    def respond(self, target: ResponseTarget, body: Mapping[str, Any]) -> None:
        """Apply a ``response_url`` post (or a command's ack body) the way Slack does."""
        text = str(body.get("text", ""))
        blocks = body.get("blocks")
        if body.get("delete_original") and target.message_ts:
            if not self.ws.delete_message(target.channel_id, target.message_ts):
                self._drop_ephemeral(target)
            return
        if body.get("replace_original") and target.message_ts:
            changes: JSON = {"text": text}
            if blocks is not None:
                changes["blocks"] = blocks
            if self.ws.update_message(target.channel_id, target.message_ts, changes) is None:
                self._drop_ephemeral(target)
                self.ws.add_ephemeral(target.user_id, target.channel_id, self._reply(body, text))
            return
        message = bot_message(self.ws.next_ts(), text, blocks)
        thread_ts = body.get("thread_ts") or target.thread_ts
        if thread_ts:
            message["thread_ts"] = thread_ts
        if body.get("response_type") == "in_channel":
            self.ws.add_message(target.channel_id, message)
        else:
            self.ws.add_ephemeral(target.user_id, target.channel_id, message)

    def _reply(self, body: Mapping[str, Any], text: str) -> JSON:
        return bot_message(self.ws.next_ts(), text, body.get("blocks"))

    def _drop_ephemeral(self, target: ResponseTarget) -> None:
        with self.ws.lock:
            self.ws.ephemerals = [
                e
                for e in self.ws.ephemerals
                if not (e["user"] == target.user_id and e["message"]["ts"] == target.message_ts)
            ]
            self.ws.touch()


def _ack_body(body: str) -> JSON:
    """Parse an ack body: JSON object, or plain text (Slack shows it as the reply text)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"text": body}
    return parsed if isinstance(parsed, dict) else {"text": body}


def _message_blocks(message: JSON) -> list[JSON]:
    """A message's blocks, then its attachments' blocks (buttons may be in either)."""
    blocks = list(message.get("blocks") or [])
    for att in message.get("attachments") or []:
        blocks += att.get("blocks") or []
    return blocks


def _attachment_of(message: JSON, block_id: str) -> int | None:
    """The ``id`` of the attachment holding block ``block_id``, if one does."""
    for att in message.get("attachments") or []:
        if any(b.get("block_id") == block_id for b in att.get("blocks") or []):
            return int(att.get("id", 1))
    return None


def _elements(blocks: list[JSON]) -> Iterator[tuple[str, JSON]]:
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions":
            for el in block.get("elements", []):
                yield block_id, el
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                yield block_id, block[key]


def _find_element(blocks: list[JSON], action_id: str, where: str) -> tuple[str, JSON]:
    for block_id, el in _elements(blocks):
        if el.get("action_id") == action_id:
            return block_id, el
    known = [el.get("action_id") for _, el in _elements(blocks)]
    raise ValueError(f"no element with action_id {action_id!r} in {where}; there are {known}")


def _state_values(view: JSON, values: Mapping[str, Any]) -> JSON:
    """Build ``view.state.values`` for every input block, from flat or nested ``values``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}/{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    state: JSON = {}
    used: set[str] = set()
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        block_id, action_id = block["block_id"], element["action_id"]
        for key in (f"{block_id}/{action_id}", action_id):
            if key in flat:
                used.add(key)
                value = flat[key]
                break
        else:
            value = element.get("initial_value")
        if value in (None, "", []) and not block.get("optional", False):
            label = block.get("label", {}).get("text", action_id)
            raise ValueError(f"the required field {label!r} ({action_id}) has no value")
        state.setdefault(block_id, {})[action_id] = payloads.input_state(element, value)
    unknown = set(flat) - used
    if unknown:
        raise ValueError(f"view {view['id']} has no inputs named {sorted(unknown)}")
    return state
