"""Mapping what came back (an httpx failure or a non-2xx status) into :mod:`adapters.errors`.

One place decides what each answer means: whether the integration is unwell (transient), the
change may have applied (ambiguous), the credentials were refused, or the request itself was.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from adapters._headers import parse_retry_after
from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    TransientError,
)

__all__ = ["excerpt", "status_error", "transport_error"]

_EXCERPT_CHARS = 200


def excerpt(raw: bytes) -> str:
    """A short printable excerpt of a vendor body for an error message (kept as data)."""
    text = raw[: _EXCERPT_CHARS * 2].decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return repr(text[:_EXCERPT_CHARS])


def transport_error(
    exc: httpx.HTTPError, *, integration: str, call: str, idempotent: bool
) -> AdapterError:
    """The adapter error for an httpx failure: nothing sent, maybe applied, or garbled."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        # Nothing reached the integration: safe to report as transient for any call.
        return TransientError(
            f"could not connect ({type(exc).__name__})", integration=integration, call=call
        )
    if isinstance(exc, httpx.DecodingError):
        return InvalidResponse(
            "response body could not be decoded", integration=integration, call=call
        )
    if isinstance(exc, httpx.TransportError):
        # The request may have been received and applied; only an idempotent call may retry.
        if idempotent:
            return TransientError(
                f"no answer ({type(exc).__name__})", integration=integration, call=call
            )
        return AmbiguousOutcome(
            f"request sent but no answer came back ({type(exc).__name__}); "
            "read the state back before acting again",
            integration=integration,
            call=call,
        )
    return AdapterError(
        f"HTTP client error ({type(exc).__name__})", integration=integration, call=call
    )


def status_error(
    response: httpx.Response,
    raw: bytes,
    *,
    integration: str,
    call: str,
    idempotent: bool,
    now: datetime,
    retry_after_cap: float,
) -> AdapterError:
    """The adapter error for a non-2xx answer; ``Retry-After`` read on 429 and 503."""
    status = response.status_code
    detail = f"HTTP {status}: {excerpt(raw)}" if raw else f"HTTP {status}"
    if status in (401, 403):
        return AuthError(
            f"credentials refused ({detail})", status=status, integration=integration, call=call
        )
    if status == 404:
        return NotFound(f"not found ({detail})", integration=integration, call=call)
    if status in (429, 503):
        wait = parse_retry_after(response.headers, now=now, cap=retry_after_cap)
        kind = RateLimited if status == 429 else TransientError
        what = "rate limited" if status == 429 else "integration unavailable"
        return kind(f"{what} ({detail})", retry_after=wait, integration=integration, call=call)
    if status in (502, 504) and not idempotent:
        # A gateway gave up waiting; the backend may still have applied the change.
        return AmbiguousOutcome(
            f"gateway timeout after send ({detail})", integration=integration, call=call
        )
    if status >= 500 or status == 408:
        return TransientError(f"integration error ({detail})", integration=integration, call=call)
    return RequestRejected(
        f"request rejected ({detail})", status=status, integration=integration, call=call
    )
