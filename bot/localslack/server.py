"""``LocalSlack``: a local workspace that is Slack for the bot, for tests and offline demos.

One Starlette app serves the Web API (``/api/…``), ``response_url`` targets, file uploads and
the web page; uvicorn runs it in a background thread (:mod:`bot.ingress.threaded`). People
act through methods such as ``send_message`` and ``click``, which deliver signed requests to the
bot's request URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bot.ingress.limits import BodyLimit
from bot.ingress.threaded import ThreadedServer
from bot.localslack import api_chat, api_directory, api_views, payloads
from bot.localslack.delivery import DEFAULT_ACK_TIMEOUT, DEFAULT_RETRY_DELAYS, Attempt, Deliverer
from bot.localslack.directory import (
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    TEAM_ID,
    DemoChannel,
    DemoUser,
    DemoUserGroup,
)
from bot.localslack.guard import LocalOnly
from bot.localslack.guide import TryStep, as_steps, check_steps
from bot.localslack.history import History
from bot.localslack.people import People
from bot.localslack.reads import WorkspaceReads
from bot.localslack.socket_mode import DEFAULT_APP_TOKEN, SocketModeHub
from bot.localslack.state import Workspace, new_id
from bot.localslack.ui import ui_routes
from bot.localslack.webapi import DEFAULT_TRIGGER_TTL, ApiContext, Handler, api_routes

KNOWN_EVENTS: frozenset[str] = frozenset(
    {"app_mention", "app_home_opened", "message", "message.channels", "message.im"}
)
"""Event subscriptions LocalSlack can deliver."""
DEFAULT_EVENTS: frozenset[str] = frozenset({"app_mention", "app_home_opened"})
"""Event subscriptions unless told otherwise. Also known: ``message.channels`` and
``message.im`` (``message`` means both); Bolt answers 404 to events it has no listener for,
which Slack (and LocalSlack) retries, so subscribe only to what the app handles."""
_START_TIMEOUT = 10.0
MAX_REQUEST_BODY = 16_000_000
"""Largest request body (bytes) the workspace reads: uploads fit, a flood does not."""


class LocalSlack(WorkspaceReads):
    """A Slack-compatible workspace on localhost.

    Example:
        with LocalSlack(bot_url=url, signing_secret="s") as slack:
            client = WebClient(token="xoxb-local", base_url=slack.api_url)
            slack.send_message("U0LOCAL01", "#ops", f"<@{slack.bot_user_id}> hi")
    """

    def __init__(
        self,
        *,
        bot_url: str | None = None,
        signing_secret: str,
        bot_token: str = "xoxb-local",  # noqa: S107 - the local workspace's fake token
        users: Iterable[DemoUser] = DEFAULT_USERS,
        channels: Iterable[DemoChannel] = DEFAULT_CHANNELS,
        usergroups: Iterable[DemoUserGroup] = DEFAULT_USERGROUPS,
        try_this: Sequence[str | TryStep] = (),
        intro: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        events: Collection[str] = DEFAULT_EVENTS,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        trigger_ttl: float = DEFAULT_TRIGGER_TTL,
        app_token: str | None = DEFAULT_APP_TOKEN,
        allowed_hosts: Iterable[str] = (),
        routes: Sequence[BaseRoute] = (),
        step_actions: Mapping[str, Callable[[], str]] | None = None,
        history: Path | None = None,
    ) -> None:
        """Configure the workspace; nothing listens until ``start()``.

        Args:
            bot_url: The bot's request URL (``http://127.0.0.1:P/slack/events``); ``None``
                means a Web API only, and the people's actions are stored but not delivered.
            signing_secret: The app's signing secret used to sign deliveries.
            bot_token: The only token the Web API accepts.
            users: The people in the workspace.
            channels: The channels (the bot is a member unless a channel says otherwise).
            usergroups: User groups served by ``usergroups.*``.
            try_this: The page's numbered "try this" steps (a string is a message to say).
            intro: A short welcome shown above the steps (Slack mrkdwn); empty for none.
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one.
            events: Event types the app subscribes to.
            ack_timeout: Seconds the bot has to answer each request (Slack: 3).
            retry_delays: Pauses before Events API retries; its length is the retry count.
            trigger_ttl: Seconds a ``trigger_id`` stays valid (Slack: 3).
            app_token: The app-level token ``apps.connections.open`` accepts (Socket Mode);
                ``None`` refuses every one. A connected client gets deliveries over the
                WebSocket instead of ``bot_url``.
            allowed_hosts: Host names besides this machine's own that requests may name
                (every other ``Host`` is refused: DNS rebinding).
            routes: More routes served on the same port (e.g. the demo's signal webhooks).
            step_actions: Name -> what a "try this" step with ``run=name`` does on the server;
                returns one sentence for the visitor.
            history: A JSON file keeping the channels' messages between runs
                (:mod:`bot.localslack.history`); ``None`` keeps nothing.
        """
        if not signing_secret:
            raise ValueError("signing_secret must not be empty")
        if not bot_token:
            raise ValueError("bot_token must not be empty")
        unknown = set(events) - KNOWN_EVENTS
        if unknown:
            raise ValueError(
                f"unknown event subscriptions {sorted(unknown)}; known: {sorted(KNOWN_EVENTS)}"
            )
        self.workspace = Workspace.build(
            users=users, channels=channels, usergroups=usergroups, bot_token=bot_token
        )
        self.try_this = as_steps(try_this)
        self.step_actions = dict(step_actions or {})
        check_steps(
            self.try_this,
            (u.name for u in self.workspace.users.values()),
            (c.name for c in self.workspace.channels.values()),
            self.step_actions,
        )
        self.intro = intro
        self.history = History(self.workspace, history) if history is not None else None
        """Channel history kept between runs, if a file was given."""
        self.ui_token = secrets.token_urlsafe(24)
        """Written into the page; ``POST /ui/...`` must carry it (``X-Opshand-UI-Token``)."""
        self._host = host
        self._port = port
        self._ctx = ApiContext(workspace=self.workspace, trigger_ttl=trigger_ttl)
        self._deliverer = Deliverer(
            bot_url=bot_url,
            signing_secret=signing_secret,
            ack_timeout=ack_timeout,
            retry_delays=retry_delays,
        )
        self.socket_mode = SocketModeHub(
            self.workspace, app_token=app_token, ack_timeout=ack_timeout
        )
        """Socket Mode connections, envelopes and acks."""
        self._deliverer.socket = self.socket_mode
        self.people = People(self._ctx, self._deliverer, events)
        handlers: dict[str, Handler] = {
            **api_directory.HANDLERS,
            **api_chat.HANDLERS,
            **api_views.HANDLERS,
        }
        routes = [
            *self.socket_mode.routes(),  # before /api/{method}: it takes an app-level token
            *api_routes(self._ctx, handlers),
            *api_chat.upload_routes(self._ctx),
            *routes,
            *ui_routes(
                self.people, self.try_this, intro, token=self.ui_token, actions=self.step_actions
            ),
        ]
        # Only this machine's own page may drive it (C9); bodies stop at the limit while they
        # stream, uploads included (C8).
        self.app = Starlette(
            routes=routes,
            middleware=[
                Middleware(
                    LocalOnly, token=self.ui_token, bind_host=host, allowed_hosts=allowed_hosts
                ),
                Middleware(BodyLimit, limit=MAX_REQUEST_BODY),
            ],
        )
        self._serving = ThreadedServer(
            self.app,
            host=host,
            port=self._port,
            name="localslack",
            start_timeout=_START_TIMEOUT,
            timeout_keep_alive=2,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Bind the port and serve in a background thread; returns once it accepts requests."""
        if self._serving.started:
            raise RuntimeError("LocalSlack is already started")
        if self.history is not None:
            self.history.load()
        port = self._serving.bind()
        shown = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        if ":" in shown:
            shown = f"[{shown}]"
        self._ctx.public_url = f"http://{shown}:{port}/"
        self.socket_mode.base_url = self._ctx.public_url
        try:
            self._serving.start()
        except RuntimeError as exc:
            raise RuntimeError(f"LocalSlack could not start on {self._ctx.public_url}") from exc
        if self.history is not None:
            self.history.start()

    def stop(self) -> None:
        """Stop serving and release the port and connections. Safe to call twice."""
        self._serving.stop()
        self._deliverer.close()
        if self.history is not None:
            self.history.stop()

    def __enter__(self) -> LocalSlack:
        """Start on entry."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()

    # -- addresses and ids --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port/`` once started."""
        if not self._ctx.public_url:
            raise RuntimeError("LocalSlack is not started yet")
        return self._ctx.public_url

    @property
    def api_url(self) -> str:
        """The Web API base for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return self.base_url + "api/"

    @property
    def web_url(self) -> str:
        """The web page's address."""
        return self.base_url

    @property
    def bot_url(self) -> str | None:
        """The bot's request URL; may be set after start (the bot's port may come later)."""
        return self._deliverer.bot_url

    @bot_url.setter
    def bot_url(self, url: str | None) -> None:
        self._deliverer.bot_url = url

    bot_user_id = BOT_USER_ID
    """The bot's user id (for ``<@…>`` mentions)."""
    bot_id = BOT_ID
    """The bot's bot id."""
    team_id = TEAM_ID
    """The workspace's team id."""

    # -- people act ---------------------------------------------------------------------

    def send_message(
        self, user_id: str, channel: str, text: str, thread_ts: str | None = None
    ) -> str:
        """Post ``text`` as ``user_id`` in ``channel`` (id or name); returns the message ts."""
        return self.people.send_message(user_id, channel, text, thread_ts)

    def click(
        self,
        user_id: str,
        channel: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
    ) -> int:
        """Click the button ``action_id`` on a message; returns the bot's HTTP status."""
        return self.people.click(user_id, channel, message_ts, action_id, value)

    def click_view(
        self, user_id: str, view_id: str, action_id: str, value: str | None = None
    ) -> int:
        """Click a button in a modal or Home tab; returns the bot's HTTP status."""
        return self.people.click_view(user_id, view_id, action_id, value)

    def slash(self, user_id: str, channel: str, command: str, text: str) -> int:
        """Run a slash command; returns the bot's HTTP status."""
        return self.people.slash(user_id, channel, command, text)

    def submit_view(self, user_id: str, view_id: str, values: Mapping[str, Any]) -> int:
        """Submit a modal; ``values`` maps action ids (or block id -> action id) to values."""
        return self.people.submit_view(user_id, view_id, values)

    def close_view(self, user_id: str, view_id: str) -> int:
        """Cancel a modal (``view_closed`` is sent only if the view asked for it)."""
        return self.people.close_view(user_id, view_id)

    def open_home(self, user_id: str) -> int:
        """Open the App Home tab; returns the bot's HTTP status (0 if not subscribed)."""
        return self.people.open_home(user_id)

    def run_step(self, name: str) -> str:
        """Run the step action ``name`` (as the page's step does); its sentence for the visitor.

        Raises:
            ValueError: if there is no such step action.
        """
        action = self.step_actions.get(name)
        if action is None:
            raise ValueError(f"no step action {name!r}; known: {sorted(self.step_actions)}")
        return action()

    def send_event(self, event: Mapping[str, Any]) -> int:
        """Deliver any inner event (e.g. an unknown type) in an ``event_callback`` envelope.

        Returns the bot's HTTP status after Slack-style retries.
        """
        if "type" not in event:
            raise ValueError("an event needs a 'type'")
        envelope = payloads.event_envelope(dict(event))
        return self._deliverer.deliver_event(envelope).status

    def replay(self, attempt: Attempt, *, retry_num: int = 0, same_timestamp: bool = False) -> int:
        """Send an earlier request to the bot again; returns its HTTP status.

        Args:
            attempt: A request from ``deliveries()``.
            retry_num: Non-zero to send it as Slack's retry (``X-Slack-Retry-Num``).
            same_timestamp: Reuse the original timestamp and signature, byte for byte.
        """
        return self._deliverer.replay(
            attempt, retry_num=retry_num, same_timestamp=same_timestamp
        ).status

    def verify_url(self) -> bool:
        """Send Slack's ``url_verification`` challenge; ``True`` if the bot echoed it back."""
        challenge = new_id("", 32).lower()
        result = self._deliverer.deliver_url_verification(challenge)
        return result.ok and challenge in result.body
