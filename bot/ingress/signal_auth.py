"""Who sent a signal: every webhook source authenticated by default (C7).

Each source is configured under ``signals.sources.<name>`` (:class:`bot.settings.
SignalSourceSettings`); a source that is not configured is refused, and so is a request whose
credentials do not match the source it claims:

- ``alertmanager``: the ``Authorization`` header its receiver sends from
  ``webhook_config.http_config`` -- ``authorization: {type: Bearer, credentials: ...}`` (or the
  older ``bearer_token``) or ``basic_auth: {username, password}``. Reference:
  https://prometheus.io/docs/alerting/latest/configuration/#http_config and
  https://prometheus.io/docs/alerting/latest/configuration/#webhook_config.
- ``pagerduty``: the v3 ``X-PagerDuty-Signature`` (``v1=<hex HMAC-SHA256 of the body>``),
  verified by :func:`adapters.signals.parse_pagerduty`; reference:
  https://developer.pagerduty.com/docs/webhooks/webhook-signatures/.
- any other name (the generic webhook's ``?source=``): ``X-Opshand-Request-Timestamp`` (Unix
  seconds) and ``X-Opshand-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">``, the
  scheme Slack signs its requests with (https://api.slack.com/authentication/verifying-requests-
  from-slack), with the same replay window: a timestamp further than ``tolerance_seconds`` from
  now is refused, and a signature already seen inside the window is a replay (answered, not
  processed again).

A generic request naming ``alertmanager`` or ``pagerduty`` as its source is refused: those
identities are proved only on their own routes. A source may be opened on purpose
(``open: true``); :func:`open_source_warnings` says so at start-up and in ``opshand doctor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from bot.settings import SignalSourceSettings

__all__ = [
    "DEDICATED_SOURCES",
    "HEADER_AUTH_SOURCES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignalGate",
    "SourceIdentity",
    "Unauthenticated",
    "open_source_warnings",
    "sign_generic",
]

TIMESTAMP_HEADER = "X-Opshand-Request-Timestamp"
SIGNATURE_HEADER = "X-Opshand-Signature"
HEADER_AUTH_SOURCES = frozenset({"alertmanager", "opsgenie", "datadog", "zabbix"})
"""Sources that prove themselves with an ``Authorization`` header (bearer token or basic auth):
Alertmanager's ``http_config``, Opsgenie's outgoing-webhook custom headers, Datadog's webhook
custom headers and the Zabbix webhook script's request header."""
DEDICATED_SOURCES = HEADER_AUTH_SOURCES | {"pagerduty"}
"""Sources that have their own route and credentials; the generic route cannot claim them."""
_SEEN_MAX = 10_000  # signatures remembered for replay detection (a window's worth of traffic)


class Unauthenticated(Exception):
    """The request did not prove the identity of the source it claims (answered 401)."""


@dataclass(frozen=True, kw_only=True)
class SourceIdentity:
    """The source a request proved to be (its provenance for everything that follows)."""

    name: str
    aiops_trusted: bool
    """Its AIOps labels may reach the twin and policy."""
    open: bool
    """It was let in without credentials (``open: true``)."""
    replay: bool = False
    """A generic request whose signature was already accepted inside the window."""


def sign_generic(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The two headers a generic sender adds (also what tests and examples use)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: "v0=" + mac.hexdigest()}


def open_source_warnings(sources: Mapping[str, SignalSourceSettings]) -> list[str]:
    """One sentence per source that takes unauthenticated requests."""
    return [
        f"signal source {name!r} is open: anyone who can reach its webhook can open incidents "
        f"and start runbooks (set signals.sources.{name}.open: false and give it credentials)"
        for name, cfg in sorted(sources.items())
        if cfg.open
    ]


def _same(given: str, expected: SecretStr | None) -> bool:
    return expected is not None and hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    )


class SignalGate:
    """Checks each webhook request against the configured sources; raises :class:`Unauthenticated`.

    Args:
        sources: Source name -> its settings (``Settings.signal_sources()``).
        clock: Unix time, for the generic replay window (tests move it).
    """

    def __init__(
        self,
        sources: Mapping[str, SignalSourceSettings],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sources = dict(sources)
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def source(self, name: str) -> SignalSourceSettings | None:
        """The settings of ``name``, or None when it is not configured."""
        return self._sources.get(name)

    def _configured(self, name: str) -> SignalSourceSettings:
        cfg = self._sources.get(name)
        if cfg is None:
            raise Unauthenticated(f"signal source {name!r} is not configured")
        return cfg

    def _identity(self, name: str, cfg: SignalSourceSettings, **kw: bool) -> SourceIdentity:
        return SourceIdentity(name=name, aiops_trusted=cfg.aiops_trusted, open=cfg.open, **kw)

    def alertmanager(self, headers: Mapping[str, str]) -> SourceIdentity:
        """Bearer token or basic auth, as ``http_config`` sends it (checked before the body)."""
        return self.header_auth("alertmanager", headers)

    def header_auth(self, name: str, headers: Mapping[str, str]) -> SourceIdentity:
        """``name``'s bearer token or basic auth in ``Authorization`` (checked before the body)."""
        cfg = self._configured(name)
        if cfg.open:
            return self._identity(name, cfg)
        scheme, _, value = (headers.get("authorization") or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and _same(value, cfg.bearer_token):
            return self._identity(name, cfg)
        if scheme.lower() == "basic" and cfg.username and cfg.password is not None:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("malformed basic credentials") from None
            user_ok = hmac.compare_digest(user.encode(), cfg.username.encode())
            if sep and user_ok and _same(password, cfg.password):
                return self._identity(name, cfg)
        if not scheme:
            raise Unauthenticated("missing Authorization header")
        raise Unauthenticated(f"Authorization does not match the {name} source")

    def pagerduty(self) -> tuple[SourceIdentity, SecretStr]:
        """PagerDuty's identity and signing secret (the signature is checked while parsing)."""
        cfg = self._configured("pagerduty")
        if cfg.secret is None:
            raise Unauthenticated("the pagerduty source has no signing secret")
        return self._identity("pagerduty", cfg), cfg.secret

    def generic(self, name: str, headers: Mapping[str, str], body: bytes) -> SourceIdentity:
        """HMAC over timestamp and body with ``name``'s own secret, inside the replay window."""
        if name in DEDICATED_SOURCES:
            raise Unauthenticated(f"source {name!r} is only accepted on /signals/{name}")
        cfg = self._configured(name)
        if cfg.open:
            return self._identity(name, cfg)
        if cfg.secret is None:
            raise Unauthenticated(f"signal source {name!r} has no signing secret")
        ts = headers.get(TIMESTAMP_HEADER.lower()) or ""
        sig = headers.get(SIGNATURE_HEADER.lower()) or ""
        if not ts or not sig:
            raise Unauthenticated(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
        now = self._clock()
        if not ts.isdigit() or abs(now - int(ts)) > cfg.tolerance_seconds:
            raise Unauthenticated(
                f"{TIMESTAMP_HEADER} outside the {cfg.tolerance_seconds} s window"
            )
        expected = sign_generic(cfg.secret.get_secret_value(), body, timestamp=int(ts))
        if not hmac.compare_digest(sig.strip().encode(), expected[SIGNATURE_HEADER].encode()):
            raise Unauthenticated(f"{SIGNATURE_HEADER} does not match the body")
        return self._identity(name, cfg, replay=self._replayed(f"{name}:{sig}", now, cfg))

    def _replayed(self, key: str, now: float, cfg: SignalSourceSettings) -> bool:
        with self._lock:
            # Forget signatures whose timestamp can no longer pass the window check.
            while self._seen and (
                next(iter(self._seen.values())) < now or len(self._seen) > _SEEN_MAX
            ):
                self._seen.popitem(last=False)
            if key in self._seen:
                return True
            self._seen[key] = now + 2 * cfg.tolerance_seconds
            return False
