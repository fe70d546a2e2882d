"""The one error tree of the integration plane.

Vendor and httpx exceptions are translated inside each adapter (``raise ... from exc``) into one
of these, so callers above the adapters never see a transport or vendor type.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AmbiguousOutcome",
    "AuthError",
    "CircuitOpen",
    "IdempotencyConflict",
    "InvalidResponse",
    "NotFound",
    "RateLimited",
    "RequestRejected",
    "SignalError",
    "SignatureError",
    "TransientError",
]


class AdapterError(Exception):
    """Base of every integration error. ``integration`` names the vendor/sim, ``call`` the call."""

    retryable: bool = False
    attempts: int = 1
    """How many attempts the call made before failing so (set by :mod:`adapters._retry`)."""

    def __init__(self, message: str, *, integration: str = "", call: str = "") -> None:
        super().__init__(message)
        self.integration = integration
        self.call = call

    def __str__(self) -> str:
        where = ".".join(p for p in (self.integration, self.call) if p)
        base = super().__str__()
        return f"{where}: {base}" if where else base


class TransientError(AdapterError):
    """Connect timeout, 5xx, connection reset: safe to retry *if* the operation is idempotent.

    ``retry_after`` is the wait in seconds (already capped) when the vendor said (a 503's
    ``Retry-After``), else ``None``.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        integration: str = "",
        call: str = "",
    ) -> None:
        super().__init__(message, integration=integration, call=call)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """HTTP 429: the vendor did not process the request, so any call, writes too, may retry.

    ``retry_after`` in seconds (already capped) when the vendor said.
    """


class AmbiguousOutcome(AdapterError):
    """The request was sent and no answer came back (read timeout): the change may have applied.

    Never retried blindly; the caller reads back the state instead.
    """


class AuthError(AdapterError):
    """401/403: bad or insufficient credentials.

    ``status`` is the HTTP status when there was one. A 401 with a refreshable credential
    (an OAuth token) is retried once with a fresh token; otherwise never retried.
    """

    def __init__(
        self, message: str, *, status: int | None = None, integration: str = "", call: str = ""
    ) -> None:
        super().__init__(message, integration=integration, call=call)
        self.status = status


class NotFound(AdapterError):
    """The object does not exist in the integration."""


class InvalidResponse(AdapterError):
    """Malformed, oversized, non-JSON or unexpected response body."""


class IdempotencyConflict(AdapterError):
    """The same idempotency key was used with different parameters."""


class CircuitOpen(AdapterError):
    """The integration's circuit breaker is open; nothing was sent."""


class RequestRejected(AdapterError):
    """The integration refused the request itself (a 4xx other than auth, 404 or 429).

    Retrying the same request gives the same answer; ``status`` is the HTTP status code.
    """

    def __init__(
        self, message: str, *, status: int = 0, integration: str = "", call: str = ""
    ) -> None:
        super().__init__(message, integration=integration, call=call)
        self.status = status


class SignalError(AdapterError):
    """An inbound signal (webhook) payload is malformed; ``field`` names what was wrong."""

    def __init__(self, message: str, *, field: str = "", integration: str = "") -> None:
        super().__init__(message, integration=integration, call="parse")
        self.field = field


class SignatureError(SignalError):
    """An inbound signal's signature is missing or does not verify: reject it unprocessed."""
