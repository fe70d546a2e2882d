"""What every listener module shares: the wired opshand, the Web API client, safe posting.

Every message the bot posts goes through :class:`SlackOut`, so link unfurling is off, the text
fallback and the blocks stay inside Slack's limits and pass the settings' redactor (no secret
reaches Slack), and channel names resolve to ids once. Replies through Bolt's ``respond`` and
views go through :meth:`SlackOut.clean` for the same redaction.

Messages posted in answer to a Slack event carry Slack message metadata naming the event
(:func:`answer_metadata`). The durable inbox may replay an event whose answer was already posted
(the replica died before marking it done); :meth:`SlackOut.answered` finds such an answer in the
conversation, so the replay does not post it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import Block, cut, limit_blocks
from bot.bootstrap import Opshand
from bot.usertz import UserZones

__all__ = [
    "ANSWER_EVENT_TYPE",
    "MAX_TEXT",
    "SlackOut",
    "answer_metadata",
    "answers_event",
    "team_of",
    "user_of",
]

log = logging.getLogger(__name__)

MAX_TEXT = 3000
"""Characters kept of a message's plain-text fallback (Slack truncates far later; we cut early
so notifications stay readable)."""
ANSWER_EVENT_TYPE = "opshand_answer"
"""Slack metadata ``event_type`` of a message answering a Slack event."""
LOOKUP_PAGE = 200
"""Messages asked for per page when looking for an earlier answer."""


def team_of(body: Mapping[str, Any], default: str) -> str:
    """The acting user's own workspace id, from a signed payload.

    In a Slack Connect channel the payload is delivered to our installation but the person may
    belong to another organisation: interactions say so in ``user.team_id``, events in
    ``event.user_team`` (or ``event.user_profile.team``), while ``team``/``team_id`` name the
    installation. The person's own team comes first, so an outsider is never taken for one of
    ours (B11); the installation's team is only the fallback.
    """
    user = body.get("user")
    if isinstance(user, dict) and user.get("team_id"):
        return str(user["team_id"])
    event = body.get("event")
    if isinstance(event, dict):
        if event.get("user_team"):
            return str(event["user_team"])
        profile = event.get("user_profile")
        if isinstance(profile, dict) and profile.get("team"):
            return str(profile["team"])
    if body.get("user_team_id"):
        return str(body["user_team_id"])
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if body.get("team_id"):
        return str(body["team_id"])
    return default


def user_of(body: Mapping[str, Any]) -> str:
    """The acting user's id from a signed payload (never a display name)."""
    user = body.get("user")
    if isinstance(user, dict):
        return str(user["id"])
    return str(body.get("user_id") or user or "")


def answer_metadata(event_id: str) -> dict[str, Any]:
    """Slack message metadata marking a message as the answer to event ``event_id``."""
    return {"event_type": ANSWER_EVENT_TYPE, "event_payload": {"event_id": event_id}}


def answers_event(message: Mapping[str, Any], event_id: str, bot_user_id: str = "") -> bool:
    """Whether ``message`` is the bot's answer to event ``event_id`` (by its metadata).

    Args:
        message: A message as ``conversations.replies`` returns it with metadata.
        event_id: The Slack event id (``Ev…``).
        bot_user_id: The bot's user id; when given, only its own messages count, so another
            app cannot silence an answer by posting look-alike metadata.
    """
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != ANSWER_EVENT_TYPE:
        return False
    payload = meta.get("event_payload")
    if not isinstance(payload, dict) or payload.get("event_id") != event_id:
        return False
    if bot_user_id:
        return bool(message.get("user") == bot_user_id)
    return bool(message.get("bot_id"))


@dataclass
class SlackOut:
    """Posting, updating and ephemeral messages with opshand's rules applied."""

    oh: Opshand
    client: WebClient
    _channels: dict[str, str] = field(default_factory=dict)
    _zones: UserZones | None = None

    def tz_of(self, user_id: str) -> str:
        """The IANA zone to show ``user_id`` times in: their Slack zone (``users.info``,
        cached), else ``slack.display_timezone``. ``team:user`` identities work too."""
        if self._zones is None:
            self._zones = UserZones(self.client, self.oh.settings.slack.display_timezone)
        user = user_id.split(":", 1)[1] if ":" in user_id else user_id
        if user_id.startswith(("signal:", "system:")):
            return self._zones.default
        return self._zones.of(user)

    @property
    def display_tz(self) -> str:
        """The zone of posts many people read (``slack.display_timezone``)."""
        return self.tz_of("")

    def channel_id(self, name: str) -> str:
        """A channel id for ``name`` (``ops``, ``#ops`` or already an id)."""
        name = name.removeprefix("#")
        if name[:1] in ("C", "G", "D") and name.isupper():
            return name
        if name not in self._channels:
            cursor = None
            while True:
                # Public channels only: listing private ones needs groups:read. Configure a
                # private channel by its id (C...) and no lookup happens.
                resp = self.client.conversations_list(
                    limit=1000, cursor=cursor, types="public_channel"
                )
                chans: list[dict[str, Any]] = resp.get("channels", [])
                for c in chans:
                    self._channels[c["name"]] = c["id"]
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        return self._channels.get(name, name)

    def clean(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` (keyword arguments of a post, a ``respond`` or a view) with every
        ``text``, ``blocks`` and ``attachments`` value redacted by the settings' redactor."""
        r = self.oh.redactor
        return {
            k: (r.redact(v) if k in ("text", "blocks", "attachments") and v is not None else v)
            for k, v in payload.items()
        }

    def remember_channel(self, name: str, channel_id: str) -> None:
        """Cache a channel the bot just created."""
        self._channels[name] = channel_id

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str = "",
        *,
        answering: str = "",
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """Post a message (unfurling off); returns its ts.

        Args:
            channel: Channel name or id.
            text: The plain-text fallback (cut to :data:`MAX_TEXT`).
            blocks: Block Kit blocks, if any.
            thread_ts: Reply in this thread.
            answering: The id of the Slack event this message answers; recorded as message
                metadata so a replay of the event can find the answer (:meth:`answered`).
            attachments: Legacy attachments (a coloured bar around blocks), if any.
        """
        resp = self.client.chat_postMessage(
            channel=self.channel_id(channel),
            **self.clean(
                {
                    "text": cut(text, MAX_TEXT),
                    "blocks": limit_blocks(blocks) if blocks else None,
                    "attachments": attachments,
                }
            ),
            thread_ts=thread_ts or None,
            unfurl_links=False,
            unfurl_media=False,
            metadata=answer_metadata(answering) if answering else None,
        )
        return str(resp["ts"])

    def answered(
        self,
        channel: str,
        event_id: str,
        *,
        thread_ts: str = "",
        since: str = "",
        bot_user_id: str = "",
    ) -> bool:
        """Whether the bot already posted an answer to ``event_id`` in the conversation.

        Reads the thread (``conversations.replies``) or, without one, the channel's messages
        from ``since`` on (``conversations.history``), with ``include_all_metadata`` so Slack
        returns each message's metadata.

        Args:
            channel: Channel id where the answer would be.
            event_id: The Slack event id the answer carries in its metadata.
            thread_ts: The thread the answer would be in.
            since: For a top-level answer: the event's ts (answers come after it).
            bot_user_id: The bot's user id (see :func:`answers_event`).

        Raises:
            SlackApiError: Slack refused the read (e.g. ``missing_scope``, ``thread_not_found``).
        """
        return any(
            answers_event(m, event_id, bot_user_id)
            for m in self._conversation(channel, thread_ts, since)
        )

    def _conversation(self, channel: str, thread_ts: str, since: str) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            if thread_ts:
                resp = self.client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE,
                    cursor=cursor,
                )
            else:
                resp = self.client.conversations_history(
                    channel=channel,
                    oldest=since or None,
                    include_all_metadata=True,
                    limit=LOOKUP_PAGE,
                    cursor=cursor,
                )
            yield from resp.get("messages", []) or []
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Block],
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """Replace a message the bot posted earlier (its attachments too, when given)."""
        payload: dict[str, Any] = {"text": cut(text, MAX_TEXT), "blocks": limit_blocks(blocks)}
        if attachments is not None:
            payload["attachments"] = attachments
        self.client.chat_update(channel=self.channel_id(channel), ts=ts, **self.clean(payload))

    def permalink(self, channel: str, ts: str) -> str:
        """A link to one message (``chat.getPermalink``), or ``""`` when Slack refuses."""
        try:
            resp = self.client.chat_getPermalink(channel=self.channel_id(channel), message_ts=ts)
        except SlackApiError as exc:  # a link is a courtesy: its absence must not stop a flow
            log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
            return ""
        return str(resp.get("permalink") or "")

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees."""
        self.client.chat_postEphemeral(
            channel=self.channel_id(channel), user=user, **self.clean({"text": cut(text, MAX_TEXT)})
        )

    def tell(self, requester: str, text: str, channel: str = "", thread_ts: str = "") -> None:
        """Tell a person something: in their thread when there is one, else by DM.

        ``requester`` is ``team:user``; signals (``signal:...``) have nobody to tell.
        """
        if channel:
            self.post(channel, text, None, thread_ts)
            return
        if requester.startswith("signal:") or ":" not in requester:
            return
        user = requester.split(":", 1)[1]
        try:
            dm = self.client.conversations_open(users=user)
            self.post(str(dm["channel"]["id"]), text)
        except SlackApiError as exc:  # a closed DM must not break the caller's flow
            log.warning("could not DM %s: %s", user, exc.response.get("error"))
