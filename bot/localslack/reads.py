"""What a test or the terminal client reads back from the local workspace: messages, notes to
one person, open modals, the Home tab, recorded Web API calls and deliveries to the bot.

A mixin of :class:`bot.localslack.server.LocalSlack`, which owns the state it reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.localslack.delivery import Attempt, Deliverer
from bot.localslack.people import People
from bot.localslack.state import JSON, Workspace

__all__ = ["ApiCall", "WorkspaceLookups", "WorkspaceReads"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ApiCall:
    """One recorded Web API call."""

    method: str
    """The method name, e.g. ``chat.postMessage``."""
    params: JSON
    """Its arguments (without the token), as parsed from the request."""


class WorkspaceLookups:
    """Names to ids and polling, the same for the workspace in this process and a running
    demo's seen from another (:class:`bot.localslack.remote.RemoteSlack`)."""

    workspace: Workspace
    poll_interval = 0.02
    """Seconds between checks in :meth:`wait_for`."""

    def channel_id(self, name: str) -> str:
        """The id of channel ``name`` (``ops`` or ``#ops``)."""
        channel = self.workspace.channel_by_name(name)
        if channel is None:
            raise ValueError(f"no channel named {name!r}")
        return channel.id

    def user_id(self, name: str) -> str:
        """The id of the user with handle ``name``."""
        for user in self.workspace.users.values():
            if user.name == name.removeprefix("@"):
                return user.id
        raise ValueError(f"no user named {name!r}")

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float | None = None
    ) -> T:
        """Poll ``predicate`` until it returns something truthy, and return that.

        Raises:
            TimeoutError: if it stays falsy for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(self.poll_interval if interval is None else interval)


class WorkspaceReads(WorkspaceLookups):
    """Reading the workspace's state (thread-safe: every read takes the workspace lock)."""

    people: People
    _deliverer: Deliverer

    def messages(self, channel: str, thread_ts: str | None = None) -> list[JSON]:
        """Messages oldest first: a channel's top level, or one thread (parent first)."""
        return self.workspace.channel_messages(self.people.channel(channel).id, thread_ts)

    def find_message(
        self,
        channel: str,
        *,
        text: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
        predicate: Callable[[JSON], bool] | None = None,
    ) -> JSON | None:
        """The newest message matching all given filters (``text`` is a substring)."""
        for message in reversed(self.messages(channel, thread_ts)):
            if text is not None and text not in message.get("text", ""):
                continue
            if user is not None and message.get("user") != user:
                continue
            if predicate is not None and not predicate(message):
                continue
            return message
        return None

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[JSON]:
        """Ephemeral messages ``user_id`` has seen, oldest first."""
        channel_id = self.people.channel(channel).id if channel else None
        with self.workspace.lock:
            return [
                dict(e["message"], channel=e["channel"])
                for e in self.workspace.ephemerals
                if e["user"] == user_id and channel_id in (None, e["channel"])
            ]

    def view_for(self, user_id: str) -> JSON | None:
        """The top open modal of ``user_id``, or ``None``."""
        with self.workspace.lock:
            stack = self.workspace.modal_stack.get(user_id) or []
            return dict(self.workspace.views[stack[-1]]) if stack else None

    def home_for(self, user_id: str) -> JSON | None:
        """The Home tab view published for ``user_id``, or ``None``."""
        with self.workspace.lock:
            view_id = self.workspace.home_view.get(user_id)
            return dict(self.workspace.views[view_id]) if view_id else None

    def view_errors(self, view_id: str) -> JSON:
        """Field errors the bot answered to the last submission of ``view_id``."""
        with self.workspace.lock:
            return dict(self.workspace.view_errors.get(view_id, {}))

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Web API calls received so far, oldest first, optionally of one method."""
        with self.workspace.lock:
            log = list(self.workspace.call_log)
        return [ApiCall(method=m, params=p) for m, p in log if method in (None, m)]

    def deliveries(self) -> list[Attempt]:
        """Every HTTP request made to the bot, oldest first."""
        return list(self._deliverer.attempts)

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call of ``method`` with 429 and ``Retry-After: retry_after``."""
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        with self.workspace.lock:
            self.workspace.rate_limits.setdefault(method, []).append(retry_after)
