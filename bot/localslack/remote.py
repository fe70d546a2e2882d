"""A running local workspace seen from another process: what ``opshand chat`` joins.

``RemoteSlack`` talks to a started :class:`~bot.localslack.LocalSlack` over its page's own
endpoints, exactly as the web page does: it reads ``GET /ui/state`` for the person it acts as
and posts what that person does to ``/ui/<action>`` with the page's token (read from the page,
which only this machine may load: :mod:`bot.localslack.guard`). It keeps a mirror
:class:`~bot.localslack.state.Workspace` of what it read, so the terminal client reads it as it
reads an in-process workspace. Everything a person does goes through the running workspace and
its bot; nothing here talks to the bot or the database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from bot.localslack.delivery import Deliverer
from bot.localslack.directory import BOT_USER_ID, DemoUser
from bot.localslack.guard import TOKEN_HEADER
from bot.localslack.guide import TryStep
from bot.localslack.people import People
from bot.localslack.reads import WorkspaceLookups
from bot.localslack.state import JSON, Channel, Workspace
from bot.localslack.webapi import ApiContext

__all__ = ["RemoteSlack", "RemoteUnavailable"]


_TOKEN = re.compile(r'<meta name="opshand-ui-token" content="([^"]*)">')


class RemoteUnavailable(Exception):
    """The workspace at the address does not answer as a local workspace does."""


class RemoteSlack(WorkspaceLookups):
    """A person's hands and eyes in a local workspace served by another process."""

    bot_user_id = BOT_USER_ID
    """The bot's user id (for ``<@…>`` mentions)."""
    poll_interval = 0.05  # each check reads the other process's page

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        """Connect to the workspace page at ``url`` (``http://127.0.0.1:8765/``).

        Raises:
            RemoteUnavailable: when the page or its state cannot be read.
        """
        self.web_url = url.rstrip("/") + "/"
        self._http = httpx.Client(base_url=self.web_url, timeout=timeout)
        try:
            page = self._http.get("/")
            found = _TOKEN.search(page.text) if page.status_code == 200 else None
            if found is None:
                raise RemoteUnavailable(f"{self.web_url} is not a local opshand workspace")
            self._token = found.group(1)
            first = self._state("")
        except httpx.HTTPError as exc:
            self._http.close()
            raise RemoteUnavailable(f"{self.web_url} does not answer: {exc}") from exc
        users = [
            DemoUser(id=u["id"], name=u["name"], real_name=u["real_name"], title=u["title"])
            for u in first["users"]
        ]
        self.workspace = Workspace.build(users=users, channels=(), usergroups=(), bot_token="-")  # noqa: S106
        """The mirror of what was last read (its lock guards it, as in-process)."""
        self.people = People(
            ApiContext(workspace=self.workspace),
            Deliverer(bot_url=None, signing_secret="remote"),  # noqa: S106 - never used
            (),
        )
        """Channel and name lookups on the mirror."""
        self.try_this = [TryStep.model_validate(s) for s in first.get("try_this", [])]
        self._lock = threading.Lock()
        self._version: int | None = None
        self._viewer: str | None = None
        self._ephemerals_read: dict[str, int] = {}
        self._modal: dict[str, JSON | None] = {}
        self._home: dict[str, JSON | None] = {}
        self._apply("", first)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- reading ------------------------------------------------------------------------

    def _state(self, user_id: str, since: int | None = None) -> JSON:
        params: dict[str, str] = {"user": user_id}
        if since is not None:
            params["since"] = str(since)
        resp = self._http.get("/ui/state", params=params)
        resp.raise_for_status()
        data: JSON = resp.json()
        return data

    def refresh(self, user_id: str) -> None:
        """Bring the mirror up to date, as ``user_id`` sees it (their notes, dialog, Home)."""
        with self._lock:
            since = self._version if user_id == self._viewer else None
            data = self._state(user_id, since)
            if data.get("changed"):
                self._apply(user_id, data)
            self._viewer = user_id

    def _apply(self, user_id: str, data: JSON) -> None:
        ws = self.workspace
        with ws.lock:
            for c in data["channels"]:
                if c["id"] not in ws.channels:
                    ws.channels[c["id"]] = Channel(
                        id=c["id"],
                        name=c["name"],
                        topic=c.get("topic", ""),
                        purpose="",
                        is_private=False,
                        members=set(c.get("members", [])),
                        created=0,
                        creator=BOT_USER_ID,
                    )
            ws.messages = {cid: list(msgs) for cid, msgs in data["messages"].items()}
            if user_id:
                mine = data.get("ephemerals", [])
                # Notes a person got before this client first looked are history, as in-process.
                for e in mine[self._ephemerals_read.setdefault(user_id, len(mine)) :]:
                    message = {k: v for k, v in e.items() if k != "channel"}
                    ws.ephemerals.append(
                        {"user": user_id, "channel": e["channel"], "message": message}
                    )
                self._ephemerals_read[user_id] = len(mine)
                self._modal[user_id] = data.get("modal")
                self._home[user_id] = data.get("home")
            ws.version = int(data["version"])
            self._version = ws.version

    # -- addresses and ids --------------------------------------------------------------

    # -- people act ---------------------------------------------------------------------

    def _act(self, action: str, user_id: str, body: Mapping[str, Any]) -> JSON:
        resp = self._http.post(
            f"/ui/{action}", json={"user": user_id, **body}, headers={TOKEN_HEADER: self._token}
        )
        answer: JSON = resp.json()
        if resp.status_code != 200 or not answer.get("ok"):
            raise ValueError(
                str(answer.get("error") or f"the workspace answered {resp.status_code}")
            )
        if user_id:
            self.refresh(user_id)
        return answer

    def send_message(
        self, user_id: str, channel: str, text: str, thread_ts: str | None = None
    ) -> str:
        """Post ``text`` as ``user_id`` in ``channel``; returns the message ts."""
        body = {"channel": self.people.channel(channel).id, "text": text, "thread_ts": thread_ts}
        return str(self._act("send", user_id, body)["ts"])

    def slash(self, user_id: str, channel: str, command: str, text: str) -> int:
        """Run a slash command; returns the bot's HTTP status."""
        body = {"channel": self.people.channel(channel).id, "text": f"{command} {text}".strip()}
        return int(self._act("send", user_id, body)["status"])

    def click(
        self,
        user_id: str,
        channel: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
    ) -> int:
        """Click the button ``action_id`` on a message; returns the bot's HTTP status."""
        body = {"channel": channel, "message_ts": message_ts, "action_id": action_id}
        return int(self._act("click", user_id, {**body, "value": value})["status"])

    def click_view(
        self, user_id: str, view_id: str, action_id: str, value: str | None = None
    ) -> int:
        """Click a button in a modal or Home tab; returns the bot's HTTP status."""
        body = {"view_id": view_id, "action_id": action_id, "value": value}
        return int(self._act("click", user_id, body)["status"])

    def submit_view(self, user_id: str, view_id: str, values: Mapping[str, Any]) -> int:
        """Submit a modal with ``values`` (block id -> action id -> value)."""
        return int(self._act("submit", user_id, {"view_id": view_id, "values": values})["status"])

    def close_view(self, user_id: str, view_id: str) -> int:
        """Cancel a modal."""
        return int(self._act("close", user_id, {"view_id": view_id})["status"])

    def open_home(self, user_id: str) -> int:
        """Open the App Home tab; returns the bot's HTTP status."""
        return int(self._act("home", user_id, {})["status"])

    def run_step(self, name: str) -> str:
        """Run the step action ``name`` in the running workspace; its sentence."""
        return str(self._act("step", "", {"name": name})["text"])

    # -- reading state ------------------------------------------------------------------

    def view_for(self, user_id: str) -> JSON | None:
        """The top open modal of ``user_id``, or ``None``."""
        self.refresh(user_id)
        return self._modal.get(user_id)

    def home_for(self, user_id: str) -> JSON | None:
        """The Home tab view published for ``user_id``, or ``None``."""
        self.refresh(user_id)
        return self._home.get(user_id)
