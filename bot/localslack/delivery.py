"""Sending requests to the bot the way Slack does: signed, with a 3 s deadline, retried.

Slack signs every request with the app's signing secret (``v0`` scheme), waits 3 seconds for a
2xx, and retries Events API deliveries up to three times with ``X-Slack-Retry-Num`` and
``X-Slack-Retry-Reason``. Interactions and slash commands are not retried: the user sees an
error instead. A bot answering with ``X-Slack-No-Retry: 1`` is not retried either.

While a Socket Mode client is connected (``socket``), the same requests go to it as envelopes
over the WebSocket instead (:mod:`bot.localslack.socket_mode`); ``url_verification`` and
``replay`` stay HTTP-only, as on Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlencode

import httpx

from bot.localslack.payloads import VERIFICATION_TOKEN
from bot.localslack.state import JSON

DeliveryKind = Literal["event", "interaction", "command"]
EnvelopeType = Literal["events_api", "interactive", "slash_commands"]
"""Socket Mode envelope types, one per kind of delivery."""
RetryReason = Literal["http_timeout", "http_error", "connection_failed", "timeout"]
"""Why an attempt failed; ``timeout`` is Socket Mode's (an envelope not acknowledged)."""


class SocketLink(Protocol):
    """What delivery needs of a Socket Mode hub (``bot.localslack.socket_mode.SocketModeHub``).

    A protocol, not an import: the hub builds on delivery's records, so delivery must not
    import the hub back.
    """

    @property
    def connected(self) -> bool:
        """Whether a client holds an open connection."""

    @property
    def link_url(self) -> str:
        """The WebSocket address clients connect to."""

    def deliver(
        self, kind: EnvelopeType, payload: JSON, *, retries: Sequence[float] = ()
    ) -> Delivery:
        """Send one envelope and wait for its acknowledgement."""


DEFAULT_ACK_TIMEOUT = 3.0
"""Seconds Slack waits for the app's acknowledgement."""
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.0, 1.0, 2.0)
"""Pause before each retry. Slack waits about 0 s, 1 min and 5 min; locally we shorten it,
and retry synchronously so a test sees every attempt when the call returns."""


def sign(signing_secret: str, timestamp: int, body: bytes) -> str:
    """Return Slack's ``X-Slack-Signature`` value for ``body`` sent at ``timestamp``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One HTTP request made to the bot."""

    kind: DeliveryKind
    """What was delivered."""
    retry_num: int
    """0 for the first try, then 1..3 as sent in ``X-Slack-Retry-Num``."""
    status: int
    """HTTP status, or 0 when the bot did not answer in time or could not be reached."""
    reason: RetryReason | None
    """Why this attempt failed (``None`` when it got a 2xx)."""
    body: str
    """Response body (empty on timeout)."""
    payload: JSON
    """What was sent (the envelope, the interaction payload or the command form)."""
    request_body: bytes
    """The exact bytes sent, as signed."""
    content_type: str
    """The request's ``Content-Type``."""
    timestamp: int
    """The ``X-Slack-Request-Timestamp`` it was signed with."""


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """The outcome of delivering one request, including its retries."""

    status: int
    """Status of the last attempt (0 = no answer within the deadline)."""
    body: str
    """Body of the last attempt."""
    attempts: tuple[Attempt, ...]
    """Every attempt, first to last."""

    @property
    def ok(self) -> bool:
        """Whether the bot acknowledged with a 2xx."""
        return 200 <= self.status < 300


class Deliverer:
    """Signs and posts requests to the bot's request URL."""

    def __init__(
        self,
        *,
        bot_url: str | None,
        signing_secret: str,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        """Create a deliverer; nothing is sent until a ``deliver_*`` call.

        Args:
            bot_url: The bot's request URL (``…/slack/events``); ``None`` disables delivery.
            signing_secret: The app's signing secret.
            ack_timeout: Seconds to wait for the bot's answer to each attempt.
            retry_delays: Pause before each Events API retry; its length is the retry count.
        """
        if ack_timeout <= 0:
            raise ValueError("ack_timeout must be positive")
        self._bot_url = bot_url
        self.socket: SocketLink | None = None
        """Socket Mode: used instead of ``bot_url`` while a client is connected."""
        self._secret = signing_secret
        self._timeout = ack_timeout
        self._delays = tuple(retry_delays)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []

    @property
    def bot_url(self) -> str | None:
        """The request URL; while only a Socket Mode client is connected, its link's address.

        ``None`` means there is no bot to deliver to.
        """
        hub = self._connected_socket()
        if self._bot_url is None and hub is not None:
            return hub.link_url
        return self._bot_url

    @bot_url.setter
    def bot_url(self, url: str | None) -> None:
        self._bot_url = url

    def _connected_socket(self) -> SocketLink | None:
        return self.socket if self.socket is not None and self.socket.connected else None

    def close(self) -> None:
        """Release the HTTP connection pool (a later delivery opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def deliver_event(self, envelope: JSON) -> Delivery:
        """Post an ``event_callback`` envelope as JSON, retrying like Slack."""
        if (hub := self._connected_socket()) is not None:
            return hub.deliver("events_api", envelope, retries=self._delays)
        body = json.dumps(envelope).encode()
        return self._send("event", envelope, body, "application/json", retries=self._delays)

    def deliver_url_verification(self, challenge: str) -> Delivery:
        """Post the ``url_verification`` request Slack sends when a request URL is set."""
        payload = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        body = json.dumps(payload).encode()
        return self._send("event", payload, body, "application/json")

    def deliver_interaction(self, payload: JSON) -> Delivery:
        """Post an interaction payload as the form field ``payload``; never retried."""
        if (hub := self._connected_socket()) is not None:
            return hub.deliver("interactive", payload)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self._send("interaction", payload, body, "application/x-www-form-urlencoded")

    def deliver_command(self, form: Mapping[str, str]) -> Delivery:
        """Post slash command form fields; never retried."""
        if (hub := self._connected_socket()) is not None:
            return hub.deliver("slash_commands", dict(form))
        body = urlencode(dict(form)).encode()
        return self._send("command", dict(form), body, "application/x-www-form-urlencoded")

    def _send(
        self,
        kind: DeliveryKind,
        payload: JSON,
        body: bytes,
        content_type: str,
        retries: Sequence[float] = (),
    ) -> Delivery:
        if self._bot_url is None:
            raise RuntimeError("LocalSlack has no bot_url, so there is no bot to deliver to")
        done: list[Attempt] = []
        for retry_num in range(len(retries) + 1):
            if retry_num:
                time.sleep(retries[retry_num - 1])
            reason = (done[-1].reason or "http_error") if done else None
            attempt, no_retry = self._post_once(
                kind, payload, body, content_type, retry_num=retry_num, retry_reason=reason
            )
            done.append(attempt)
            if attempt.reason is None or no_retry:
                break
        last = done[-1]
        return Delivery(status=last.status, body=last.body, attempts=tuple(done))

    def replay(
        self,
        attempt: Attempt,
        *,
        retry_num: int = 0,
        retry_reason: RetryReason = "http_timeout",
        same_timestamp: bool = False,
    ) -> Delivery:
        """Send an earlier request again, once: a Slack retry, or a replay by an attacker.

        Args:
            attempt: The request to send again (from ``attempts``).
            retry_num: Non-zero to mark it as Slack's retry number ``retry_num``.
            retry_reason: The ``X-Slack-Retry-Reason`` sent with a retry.
            same_timestamp: Reuse the original timestamp and so the original signature
                (a captured request replayed byte for byte).
        """
        if self._bot_url is None:
            raise RuntimeError("LocalSlack has no bot_url, so there is no bot to deliver to")
        again, _ = self._post_once(
            attempt.kind,
            attempt.payload,
            attempt.request_body,
            attempt.content_type,
            retry_num=retry_num,
            retry_reason=retry_reason if retry_num else None,
            timestamp=attempt.timestamp if same_timestamp else None,
        )
        return Delivery(status=again.status, body=again.body, attempts=(again,))

    def _post_once(
        self,
        kind: DeliveryKind,
        payload: JSON,
        body: bytes,
        content_type: str,
        *,
        retry_num: int,
        retry_reason: RetryReason | None,
        timestamp: int | None = None,
    ) -> tuple[Attempt, bool]:
        assert self._bot_url is not None
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(self._secret, timestamp, body),
        }
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_error"
        status, text, no_retry = 0, "", False
        reason: RetryReason | None = None
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self._timeout))
            client = self._client
        try:
            response = client.post(self._bot_url, content=body, headers=headers)
        except httpx.TimeoutException:
            reason = "http_timeout"
        except httpx.TransportError:
            reason = "connection_failed"
        else:
            status, text = response.status_code, response.text
            no_retry = response.headers.get("X-Slack-No-Retry") == "1"
            if not 200 <= status < 300:
                reason = "http_error"
        attempt = Attempt(
            kind=kind,
            retry_num=retry_num,
            status=status,
            reason=reason,
            body=text,
            payload=payload,
            request_body=body,
            content_type=content_type,
            timestamp=timestamp,
        )
        with self._lock:
            self.attempts.append(attempt)
        return attempt, no_retry
