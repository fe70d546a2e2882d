"""The Bolt app: thin listeners over the agent and the operations facade.

Listeners acknowledge at once (Bolt acks events before running the listener when
``process_before_response`` is off; actions and commands call ``ack()`` first) and do slow work
afterwards. Cross-cutting concerns — de-duplication shared through the database, the catch-all
for unknown events — are middleware, not copied ``if``s. Consent cards and incident threads are
posted by subscribers to the operations facade's change events, so every path gets them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.bootstrap import Opshand
from bot.listeners._shared import SlackOut
from bot.listeners.commands import register_commands
from bot.listeners.consent import register_consent
from bot.listeners.conversations import register_conversations
from bot.listeners.home import register_home
from bot.listeners.incident_notes import incident_notes as signal_notes
from bot.listeners.incidents import IncidentRouting, register_incidents, register_results
from bot.listeners.middleware import (
    register_fallback,
    register_middleware,
    register_replay_check,
)
from bot.listeners.unfurl import register_quiet_links

__all__ = [
    "MAX_RETRY_AFTER",
    "CappedRateLimitHandler",
    "build_app",
]

log = logging.getLogger(__name__)

LISTENER_WORKERS = 16
"""Threads running listeners after their ack: agent turns on a hosted model mostly wait on
the network, so several may run at once; bounded so a burst cannot starve the acks."""
MAX_RETRY_AFTER = 30.0
"""Longest wait honoured from a 429's ``Retry-After``; longer waits fail the call instead of
holding a worker thread for minutes."""


class CappedRateLimitHandler(RetryHandler):
    """Retry a Web API call answered 429, after exactly ``Retry-After`` seconds (capped)."""

    def __init__(self, max_retry_count: int = 2, max_wait: float = MAX_RETRY_AFTER) -> None:
        """Retry at most ``max_retry_count`` times, waiting at most ``max_wait`` seconds."""
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return self._retry_after(response) <= self.max_wait

    @staticmethod
    def _retry_after(response: HttpResponse) -> float:
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                try:
                    return max(0.0, float(values[0]))
                except ValueError:
                    return 1.0
        return 1.0

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Sleep as Slack said (a little jitter so replicas do not retry in lock-step)."""
        assert response is not None
        wait = self._retry_after(response) + random.uniform(0, 0.1)
        log.warning("Slack rate limit on %s; retrying in %.1f s", request.url, wait)
        state.next_attempt_requested = True
        state.increment_current_attempt()
        time.sleep(wait)


def slack_usergroup_members(client: WebClient) -> Callable[[str], list[str]]:
    """Resolve a user-group handle to member ids with ``usergroups.list`` and
    ``usergroups.users.list`` (the role map caches the answer and fails closed on errors)."""

    def members(handle: str) -> list[str]:
        groups: list[dict[str, Any]] = client.usergroups_list().get("usergroups", []) or []
        gid = next((g["id"] for g in groups if g.get("handle") == handle), None)
        if gid is None:
            return []
        return list(client.usergroups_users_list(usergroup=gid).get("users", []) or [])

    return members


def build_app(
    oh: Opshand,
    *,
    client: WebClient | None = None,
    incident_channels: Mapping[str, str] | None = None,
    create_incident_channels: bool | None = None,
    incident_channel: str | None = None,
    incident_notes: bool = False,
) -> App:
    """The Bolt app wired to ``oh``; installs its change-event subscribers on ``oh.ops``.

    Args:
        oh: The wired opshand.
        client: The Web API client (default: from settings).
        incident_channels: Client or entity id -> channel for incident threads (default:
            ``settings.slack.incident_channels`` when that setting exists).
        create_incident_channels: Create ``#inc-cr-<n>`` when nothing is configured.
        incident_channel: The fallback channel for incident threads (default:
            ``settings.slack.incident_channel``).
        incident_notes: Post the signal loop's notes (the alert, the incident, the runbook,
            the outcome) in the incident threads, unless something else already takes them.
    """
    s = oh.settings
    client = client or WebClient(
        token=s.slack.bot_token.get_secret_value(), base_url=s.slack.api_url or WebClient.BASE_URL
    )
    client.retry_handlers.append(CappedRateLimitHandler())
    if oh.roles.usergroup_members is None:
        oh.roles.usergroup_members = slack_usergroup_members(client)
    app = App(
        client=client,
        signing_secret=s.slack.signing_secret.get_secret_value(),
        process_before_response=False,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # Listener work (agent turns, card updates) is Python sharing one GIL with the code
        # that acknowledges Slack; a few threads keep acks fast while the backlog drains.
        listener_executor=ThreadPoolExecutor(
            max_workers=LISTENER_WORKERS, thread_name_prefix="opshand-listener"
        ),
    )
    out = SlackOut(oh, client)
    register_quiet_links(app)  # first: every post from here on has unfurling off
    register_middleware(app, oh.engine)
    register_replay_check(app, out)  # before any listener: a replay answered before ends here
    register_conversations(app, out)
    # Result in the request's thread before the card update, so the thread reads in order.
    register_results(out)
    register_consent(app, out)
    register_commands(app, out)
    register_home(app, out)
    register_fallback(app)  # last: it matches every event type
    slack = s.slack
    routing = IncidentRouting(
        channels=dict(
            incident_channels if incident_channels is not None else slack.incident_channels
        ),
        create=(
            create_incident_channels
            if create_incident_channels is not None
            else slack.create_incident_channels
        ),
        fallback=slack.incident_channel if incident_channel is None else incident_channel,
    )
    register_incidents(out, routing)
    if incident_notes and oh.signals.notify is None:
        oh.signals.notify = signal_notes(out)
    return app
