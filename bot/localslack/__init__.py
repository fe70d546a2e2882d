"""A local Slack-compatible workspace: Web API, signed deliveries to the bot, and a web page.

Tests and offline demos run the real Bolt app against it, with no internet. The app needs the
Web API at construction (Bolt calls ``auth.test``) and LocalSlack needs the app's request URL
to deliver, so start LocalSlack first and give it the URL once the app listens::

    from slack_bolt import App
    from slack_sdk import WebClient
    from bot.localslack import BoltServer, LocalSlack

    with LocalSlack(signing_secret="s", try_this=["@opshand what is down?"]) as slack:
        app = App(signing_secret="s", client=WebClient(token="xoxb-local", base_url=slack.api_url))
        ...  # register listeners
        with BoltServer(app) as server:
            slack.bot_url = server.url
            ts = slack.send_message("U0LOCAL01", "#ops", f"<@{slack.bot_user_id}> what is down?")
            slack.wait_for(lambda: slack.find_message("ops", thread_ts=ts, user=slack.bot_user_id))

People act through ``send_message``, ``click``, ``slash``, ``submit_view`` and ``open_home`` (or
the web page at ``slack.web_url``); each returns once the bot answered the HTTP request.
A Socket Mode client (``apps.connections.open`` with ``app_token``) gets them as envelopes
over its WebSocket instead, while it is connected (``slack.socket_mode``).

Only this machine's own page may drive it (:mod:`bot.localslack.guard`): other ``Host`` names
are refused, and the page's actions need the same origin, a JSON body and the page's token.
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
from bot.localslack.guard import TOKEN_HEADER, LocalOnly
from bot.localslack.guide import TryStep
from bot.localslack.reads import ApiCall
from bot.localslack.server import DEFAULT_EVENTS, LocalSlack
from bot.localslack.socket_mode import DEFAULT_APP_TOKEN, SocketModeHub

__all__ = [
    "DEFAULT_APP_TOKEN",
    "DEFAULT_CHANNELS",
    "DEFAULT_EVENTS",
    "DEFAULT_USERGROUPS",
    "DEFAULT_USERS",
    "TOKEN_HEADER",
    "ApiCall",
    "Attempt",
    "BoltServer",
    "Delivery",
    "DemoChannel",
    "DemoUser",
    "DemoUserGroup",
    "LocalOnly",
    "LocalSlack",
    "SocketModeHub",
    "TryStep",
    "sign",
]
