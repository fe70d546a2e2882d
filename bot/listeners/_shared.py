"""What every listener module shares: the wired opshand, the Web API client, safe posting.

Every message the bot posts goes through :class:`SlackOut`, so link unfurling is off, the text
fallback and the blocks stay inside Slack's limits, and channel names resolve to ids once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import Block, cut, limit_blocks
from bot.bootstrap import Opshand

__all__ = ["MAX_TEXT", "SlackOut", "team_of", "user_of"]

log = logging.getLogger(__name__)

MAX_TEXT = 3000
"""Characters kept of a message's plain-text fallback (Slack truncates far later; we cut early
so notifications stay readable)."""


def team_of(body: Mapping[str, Any], default: str) -> str:
    """The workspace id from a signed payload (``team.id``, ``team_id`` or ``user.team_id``)."""
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if body.get("team_id"):
        return str(body["team_id"])
    user = body.get("user")
    if isinstance(user, dict) and user.get("team_id"):
        return str(user["team_id"])
    return default


def user_of(body: Mapping[str, Any]) -> str:
    """The acting user's id from a signed payload (never a display name)."""
    user = body.get("user")
    if isinstance(user, dict):
        return str(user["id"])
    return str(body.get("user_id") or user or "")


@dataclass
class SlackOut:
    """Posting, updating and ephemeral messages with opshand's rules applied."""

    oh: Opshand
    client: WebClient
    _channels: dict[str, str] = field(default_factory=dict)

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

    def remember_channel(self, name: str, channel_id: str) -> None:
        """Cache a channel the bot just created."""
        self._channels[name] = channel_id

    def post(
        self, channel: str, text: str, blocks: list[Block] | None = None, thread_ts: str = ""
    ) -> str:
        """Post a message (unfurling off); returns its ts."""
        resp = self.client.chat_postMessage(
            channel=self.channel_id(channel),
            text=cut(text, MAX_TEXT),
            blocks=limit_blocks(blocks) if blocks else None,
            thread_ts=thread_ts or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        """Replace a message the bot posted earlier."""
        self.client.chat_update(
            channel=self.channel_id(channel),
            ts=ts,
            text=cut(text, MAX_TEXT),
            blocks=limit_blocks(blocks),
        )

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees."""
        self.client.chat_postEphemeral(
            channel=self.channel_id(channel), user=user, text=cut(text, MAX_TEXT)
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
