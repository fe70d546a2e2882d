"""The workspace's memory: channels, messages, ephemerals, views, triggers and the call log.

Everything is kept in Slack's own JSON shapes (the dicts ``conversations.history`` returns), so
the Web API, the delivery code and the web page read the same records. One re-entrant lock
guards it all: the Web API runs in uvicorn's thread pool while tests read from their own thread.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.localslack.directory import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    DemoChannel,
    DemoUser,
    DemoUserGroup,
    zone_fields,
)

JSON = dict[str, Any]
_ALPHABET = string.ascii_uppercase + string.digits


def new_id(prefix: str, length: int = 10) -> str:
    """Return a fresh Slack-looking id such as ``V0A1B2C3D4``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class Channel:
    """A channel's mutable record."""

    id: str
    name: str
    topic: str
    purpose: str
    is_private: bool
    members: set[str]
    created: int
    creator: str
    is_archived: bool = False
    im_user: str | None = None
    """For a direct message with the bot: the person's user id."""

    @property
    def is_im(self) -> bool:
        """Whether this is the bot's direct message channel with one person."""
        return self.im_user is not None

    def to_json(self, *, bot_user_id: str = BOT_USER_ID) -> JSON:
        """Render the channel as Slack's conversation object."""
        if self.im_user is not None:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": TEAM_ID,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": TEAM_ID,
            "is_member": bot_user_id in self.members,
            "num_members": len(self.members),
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }


@dataclass
class Trigger:
    """A ``trigger_id`` handed to the bot; Slack lets it open one view within 3 seconds."""

    user_id: str
    issued: float
    used: bool = False


@dataclass
class ResponseTarget:
    """Where a ``response_url`` posts to: the channel, and the message it may replace."""

    user_id: str
    channel_id: str
    message_ts: str | None = None
    thread_ts: str | None = None
    uses: int = 0


@dataclass
class Workspace:
    """All state of one local workspace. Methods take the lock; callers get copies."""

    users: dict[str, DemoUser]
    channels: dict[str, Channel]
    usergroups: dict[str, DemoUserGroup]
    bot_token: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    version: int = 0
    messages: dict[str, list[JSON]] = field(default_factory=dict)
    ephemerals: list[JSON] = field(default_factory=list)
    views: dict[str, JSON] = field(default_factory=dict)
    view_owner: dict[str, str] = field(default_factory=dict)
    home_view: dict[str, str] = field(default_factory=dict)
    modal_stack: dict[str, list[str]] = field(default_factory=dict)
    view_errors: dict[str, JSON] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    response_targets: dict[str, ResponseTarget] = field(default_factory=dict)
    files: dict[str, JSON] = field(default_factory=dict)
    call_log: list[tuple[str, JSON]] = field(default_factory=list)
    rate_limits: dict[str, list[int]] = field(default_factory=dict)
    _last_ts: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        users: Iterable[DemoUser],
        channels: Iterable[DemoChannel],
        usergroups: Iterable[DemoUserGroup],
        bot_token: str,
    ) -> Workspace:
        """Create the workspace from the configured directory, checking ids are unique."""
        user_map: dict[str, DemoUser] = {}
        for user in users:
            if user.id in user_map or user.id == BOT_USER_ID:
                raise ValueError(f"duplicate user id {user.id!r} in the local workspace")
            user_map[user.id] = user
        now = int(time.time())
        channel_map: dict[str, Channel] = {}
        names: set[str] = set()
        for ch in channels:
            if ch.id in channel_map or ch.name in names:
                raise ValueError(f"duplicate channel {ch.id!r} / #{ch.name} in the local workspace")
            members = set(user_map) if ch.members is None else set(ch.members)
            unknown = members - set(user_map)
            if unknown:
                raise ValueError(f"channel #{ch.name} lists unknown users {sorted(unknown)}")
            if ch.bot_is_member:
                members.add(BOT_USER_ID)
            channel_map[ch.id] = Channel(
                id=ch.id,
                name=ch.name,
                topic=ch.topic,
                purpose=ch.purpose,
                is_private=ch.is_private,
                members=members,
                created=now,
                creator=next(iter(user_map), BOT_USER_ID),
            )
            names.add(ch.name)
        group_map = {g.id: g for g in usergroups}
        for group in group_map.values():
            strangers = set(group.users) - set(user_map)
            if strangers:
                raise ValueError(
                    f"user group @{group.handle} lists unknown users {sorted(strangers)}"
                )
        return cls(users=user_map, channels=channel_map, usergroups=group_map, bot_token=bot_token)

    # -- ids and change tracking --------------------------------------------------------

    def next_ts(self) -> str:
        """Return a message timestamp, strictly increasing like Slack's (``seconds.micros``)."""
        with self.lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
            return f"{now:.6f}"

    @property
    def last_ts(self) -> float:
        """The newest timestamp handed out so far."""
        with self.lock:
            return self._last_ts

    def advance_ts(self, ts: float) -> None:
        """Hand out only timestamps after ``ts`` from now on (restored history)."""
        with self.lock:
            self._last_ts = max(self._last_ts, ts)

    def touch(self) -> None:
        """Mark a change so the web page's poll picks it up."""
        with self.lock:
            self.version += 1

    # -- directory ----------------------------------------------------------------------

    def channel_by_name(self, name: str) -> Channel | None:
        """Return the channel named ``name`` (with or without ``#``)."""
        bare = name.removeprefix("#")
        with self.lock:
            return next((c for c in self.channels.values() if c.name == bare and not c.is_im), None)

    def lookup_channel(self, ref: str) -> Channel | None:
        """A channel by id; ``D…`` or a user id gives that person's DM with the bot."""
        with self.lock:
            found = self.channels.get(ref)
            if found is not None:
                return found
            user_id = "U" + ref[1:] if ref.startswith("D") else ref
            return self.dm_channel(user_id) if user_id in self.users else None

    def dm_channel(self, user_id: str) -> Channel:
        """The bot's direct message channel with ``user_id`` (opened on first use)."""
        channel_id = "D" + user_id[1:]
        with self.lock:
            found = self.channels.get(channel_id)
            if found is None:
                found = Channel(
                    id=channel_id,
                    name=user_id,
                    topic="",
                    purpose="",
                    is_private=True,
                    members={user_id, BOT_USER_ID},
                    created=int(time.time()),
                    creator=BOT_USER_ID,
                    im_user=user_id,
                )
                self.channels[channel_id] = found
            return found

    def user_json(self, user_id: str) -> JSON | None:
        """Render a user (or the bot) as Slack's user object, or ``None`` if unknown."""
        if user_id == BOT_USER_ID:
            return _bot_user_json()
        user = self.users.get(user_id)
        if user is None:
            return None
        email = user.email or f"{user.name}@opshand.local"
        return {
            "id": user.id,
            "team_id": user.team_id or TEAM_ID,
            "name": user.name,
            "deleted": False,
            "real_name": user.real_name,
            **zone_fields(user.tz),
            "is_admin": user.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 0,
            "profile": {
                "title": user.title,
                "real_name": user.real_name,
                "real_name_normalized": user.real_name,
                "display_name": user.name,
                "display_name_normalized": user.name,
                "email": email,
                "team": user.team_id or TEAM_ID,
                "image_48": "",
            },
        }

    # -- messages -----------------------------------------------------------------------

    def add_message(self, channel_id: str, message: JSON) -> JSON:
        """Store a message; a reply updates its parent's thread fields as Slack does."""
        with self.lock:
            stored = copy.deepcopy(message)
            self.messages.setdefault(channel_id, []).append(stored)
            thread_ts = stored.get("thread_ts")
            if thread_ts and thread_ts != stored["ts"]:
                parent = self._find(channel_id, thread_ts)
                if parent is not None:
                    parent["thread_ts"] = thread_ts
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    users = list(parent.get("reply_users", []))
                    author = stored.get("user", "")
                    if author and author not in users:
                        users.append(author)
                    parent["reply_users"] = users
                    parent["reply_users_count"] = len(users)
                    parent["latest_reply"] = stored["ts"]
                    stored.setdefault("parent_user_id", parent.get("user", ""))
            self.touch()
            return copy.deepcopy(stored)

    def _find(self, channel_id: str, ts: str) -> JSON | None:
        return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)

    def find_message(self, channel_id: str, ts: str) -> JSON | None:
        """Return a copy of the message at ``ts`` in ``channel_id``, or ``None``."""
        with self.lock:
            found = self._find(channel_id, ts)
            return copy.deepcopy(found) if found is not None else None

    def update_message(self, channel_id: str, ts: str, changes: Mapping[str, Any]) -> JSON | None:
        """Apply ``changes`` to a stored message; ``None`` when there is no such message."""
        with self.lock:
            found = self._find(channel_id, ts)
            if found is None:
                return None
            for key, value in changes.items():
                if value is None:
                    found.pop(key, None)
                else:
                    found[key] = copy.deepcopy(value)
            self.touch()
            return copy.deepcopy(found)

    def delete_message(self, channel_id: str, ts: str) -> bool:
        """Remove a message; ``False`` when there was none."""
        with self.lock:
            found = self._find(channel_id, ts)
            if found is None:
                return False
            self.messages[channel_id].remove(found)
            self.touch()
            return True

    def channel_messages(self, channel_id: str, thread_ts: str | None = None) -> list[JSON]:
        """Oldest-first copies: top-level messages, or one thread (parent first)."""
        with self.lock:
            stored = self.messages.get(channel_id, [])
            if thread_ts is None:
                picked = [
                    m
                    for m in stored
                    if m.get("thread_ts") in (None, m["ts"])
                    or m.get("subtype") == "thread_broadcast"
                ]
            else:
                picked = [
                    m for m in stored if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
                ]
            return copy.deepcopy(picked)

    def add_ephemeral(self, user_id: str, channel_id: str, message: JSON) -> None:
        """Store a message only ``user_id`` sees."""
        with self.lock:
            self.ephemerals.append(
                {"user": user_id, "channel": channel_id, "message": copy.deepcopy(message)}
            )
            self.touch()

    # -- calls and rate limits ----------------------------------------------------------

    def record_call(self, method: str, params: Mapping[str, Any]) -> None:
        """Append a Web API call to the log tests assert on."""
        with self.lock:
            self.call_log.append((method, copy.deepcopy(dict(params))))

    def take_rate_limit(self, method: str) -> int | None:
        """Pop a queued 429 for ``method``: the ``Retry-After`` seconds, or ``None``."""
        with self.lock:
            queued = self.rate_limits.get(method)
            if not queued:
                return None
            return queued.pop(0)


def _bot_user_json() -> JSON:
    return {
        "id": BOT_USER_ID,
        "team_id": TEAM_ID,
        "name": BOT_NAME,
        "deleted": False,
        "real_name": BOT_NAME,
        "is_admin": False,
        "is_owner": False,
        "is_bot": True,
        "is_app_user": False,
        "updated": 0,
        "profile": {
            "real_name": BOT_NAME,
            "display_name": BOT_NAME,
            "bot_id": BOT_ID,
            "api_app_id": APP_ID,
            "always_active": True,
            "team": TEAM_ID,
        },
    }


def bot_profile() -> JSON:
    """The ``bot_profile`` object Slack attaches to messages a bot posts."""
    return {
        "id": BOT_ID,
        "app_id": APP_ID,
        "name": BOT_NAME,
        "deleted": False,
        "team_id": TEAM_ID,
        "updated": 0,
        "icons": {},
    }
