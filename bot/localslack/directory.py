"""Who and what exists in the local workspace: team, bot, demo users, channels, user groups.

The ids follow Slack's shapes (``T…`` team, ``U…`` user, ``C…`` channel, ``S…`` user group,
``B…`` bot, ``A…`` app) so code that pattern-matches ids behaves as it would against Slack.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

TEAM_ID = "T0LOCAL01"
"""Team (workspace) id of the local workspace."""
TEAM_DOMAIN = "opshand-local"
"""Team domain, as Slack puts in ``team.domain`` of interaction payloads."""
TEAM_NAME = "opshand (local)"
"""Human name of the local workspace."""
APP_ID = "A0LOCAL01"
"""The bot's app id (``api_app_id`` in payloads)."""
BOT_ID = "B0LOCAL01"
"""The bot's bot id (``bot_id`` on messages it posts)."""
BOT_USER_ID = "U0BOTLOCAL"
"""The bot's user id (what ``<@…>`` mentions of the bot carry)."""
BOT_NAME = "opshand"
"""The bot's user name."""

_LABELS = {
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "UTC": "Coordinated Universal Time",
}


def zone_fields(tz: str, at: datetime | None = None) -> dict[str, Any]:
    """``tz``, ``tz_label`` and ``tz_offset`` of a user object as Slack's ``users.info`` gives
    them (``America/New_York``, ``Eastern Standard Time``, ``-18000`` seconds from UTC), at
    ``at`` (default now, so daylight saving moves them as it does on Slack)."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):  # a made-up zone in a test's user list
        return {"tz": tz, "tz_label": tz, "tz_offset": 0}
    local = (at or datetime.now(UTC)).astimezone(zone)
    offset = local.utcoffset()
    abbr = local.tzname() or tz
    return {
        "tz": tz,
        "tz_label": _LABELS.get(abbr, abbr),
        "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
    }


_USER_ID = r"^[UW][A-Z0-9]{6,14}$"
_CHANNEL_ID = r"^[CG][A-Z0-9]{6,14}$"
_GROUP_ID = r"^S[A-Z0-9]{6,14}$"
# Slack's rule for channel names: lower case letters, digits, hyphens, underscores, <= 80.
CHANNEL_NAME_PATTERN = r"^[a-z0-9_\-]{1,80}$"


class DemoUser(BaseModel):
    """A person in the local workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_USER_ID)
    """Slack user id, e.g. ``U0LOCAL01``."""
    name: str = Field(min_length=1, max_length=80)
    """Handle (``name`` in ``users.info``), e.g. ``ana``."""
    real_name: str = Field(min_length=1)
    """Full name shown in the UI."""
    title: str = ""
    """Job title (``profile.title``)."""
    email: str | None = None
    """E-mail address (``profile.email``); derived from the handle when omitted."""
    is_admin: bool = False
    """Workspace admin flag."""
    tz: str = "Europe/London"
    """IANA time zone name."""
    team_id: str = ""
    """Another organisation's team id: a Slack Connect (external) person seen in our shared
    channels. Empty means a member of this workspace."""


class DemoChannel(BaseModel):
    """A channel in the local workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_CHANNEL_ID)
    """Slack channel id, e.g. ``C0LOCALOPS``."""
    name: str = Field(pattern=CHANNEL_NAME_PATTERN)
    """Channel name without ``#``."""
    topic: str = ""
    """Channel topic."""
    purpose: str = ""
    """Channel purpose."""
    is_private: bool = False
    """Private channel (``is_private``; such ids start with ``C`` in modern Slack too)."""
    members: tuple[str, ...] | None = None
    """User ids in the channel; ``None`` means every demo user."""
    bot_is_member: bool = True
    """Whether the bot has joined (otherwise it must ``conversations.join``)."""


class DemoUserGroup(BaseModel):
    """A user group (``@handle``), as listed by ``usergroups.list``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_GROUP_ID)
    """Slack user group id, e.g. ``S0LOCAL01``."""
    handle: str = Field(min_length=1)
    """Mention handle without ``@``."""
    name: str = Field(min_length=1)
    """Human name."""
    users: tuple[str, ...] = ()
    """Member user ids."""


DEFAULT_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        id="U0LOCAL01",
        name="ana",
        real_name="Ana Ortiz",
        title="On-call engineer",
        tz="America/New_York",
    ),
    DemoUser(
        id="U0LOCAL02", name="ben", real_name="Ben Okafor", title="Infrastructure lead (approver)"
    ),
    DemoUser(
        id="U0LOCAL03",
        name="chloe",
        real_name="Chloe Martin",
        title="Security engineer (approver)",
        tz="Europe/Paris",
    ),
    DemoUser(
        id="U0LOCAL04",
        name="devika",
        real_name="Devika Rao",
        title="Engineering manager",
        is_admin=True,
        tz="America/Chicago",
    ),
)
"""The demo people: an on-call engineer, two approvers and a manager."""

DEFAULT_CHANNELS: tuple[DemoChannel, ...] = (
    DemoChannel(id="C0LOCALOPS", name="ops", topic="Ask opshand about the estate"),
    DemoChannel(id="C0LOCALAPR", name="ops-approvals", topic="Consent cards for changes"),
    DemoChannel(id="C0LOCALDIG", name="ops-digest", topic="Daily digest of what opshand did"),
)
"""The demo channels: ``#ops``, ``#ops-approvals`` and ``#ops-digest``."""

DEFAULT_USERGROUPS: tuple[DemoUserGroup, ...] = (
    DemoUserGroup(
        id="S0LOCAL01",
        handle="ops-approvers",
        name="Ops approvers",
        users=("U0LOCAL02", "U0LOCAL03"),
    ),
    DemoUserGroup(id="S0LOCAL02", handle="oncall", name="On-call", users=("U0LOCAL01",)),
)
"""The demo user groups: approvers and on-call."""
