"""A local Slack-compatible workspace: Web API, signed deliveries to the bot, and a web page.

Tests and offline demos run the real Bolt app against it, with no internet::

    from bot.localslack import LocalSlack

    with LocalSlack(bot_url="http://127.0.0.1:3000/slack/events", signing_secret="s") as slack:
        slack.send_message("U0LOCAL01", "#ops", f"<@{slack.bot_user_id}> what is down?")
"""

from __future__ import annotations

from bot.localslack.boltserver import BoltServer
from bot.localslack.delivery import Attempt, Delivery, sign
from bot.localslack.directory import (
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    DemoChannel,
    DemoUser,
    DemoUserGroup,
)
from bot.localslack.server import DEFAULT_EVENTS, ApiCall, LocalSlack

__all__ = [
    "DEFAULT_CHANNELS",
    "DEFAULT_EVENTS",
    "DEFAULT_USERGROUPS",
    "DEFAULT_USERS",
    "ApiCall",
    "Attempt",
    "BoltServer",
    "Delivery",
    "DemoChannel",
    "DemoUser",
    "DemoUserGroup",
    "LocalSlack",
    "sign",
]
