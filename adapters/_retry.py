"""The one retry layer for integration calls (RELIABILITY E1, E3, E7), built on tenacity.

Every integration client sends through :func:`call_with_retries`: vendor clients via
:class:`adapters._http.ResilientHttp`, the simulated estate via
:class:`adapters.resilient.Resilient`.
Callers above the adapters (the executor) do not retry again; they classify the outcome.

Per call:

- the integration's :class:`CircuitBreaker` is asked before each attempt and told how it ended;
  a transient failure or an ambiguous outcome counts once, a clear answer closes the circuit;
- a 429 is repeated (the vendor did not process it), any other transient failure only when the
  call is harmless to repeat; an ambiguous outcome (sent, no answer) is never repeated;
- waits are the vendor's ``Retry-After`` (held to the cap) or full-jitter exponential backoff;
- when this call's own failures open the circuit, it stops with its last failure.

The number of attempts a failure took is on the error (:attr:`AdapterError.attempts`).

A caller that knows more about a call than the client does opens a :func:`call_scope`: the
executor says a capability is idempotent (restarting a service twice is harmless), waits in
slices that keep its claim alive, and is told of each rate-limit wait so it can audit it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adapters._breaker import CircuitBreaker
from adapters.errors import AdapterError, AmbiguousOutcome, CircuitOpen, RateLimited, TransientError

__all__ = [
    "CallScope",
    "HttpHooks",
    "ResilienceOptions",
    "breaker_for",
    "breaker_of",
    "call_scope",
    "call_with_retries",
]

_T = TypeVar("_T")

_log = logging.getLogger("opshand.adapters.retry")


class ResilienceOptions(BaseModel):
    """How hard one integration is pushed and how long it is trusted to answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to open a connection; failing here means nothing was sent."""
    read_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for the answer once the request is sent."""
    max_attempts: int = Field(default=3, ge=1, le=10)
    """Total attempts (1 = no retry). Non-idempotent calls retry only a 429 (not processed)."""
    backoff_base: float = Field(default=0.5, ge=0)
    """First backoff ceiling in seconds; doubles per attempt (full jitter below it)."""
    backoff_max: float = Field(default=8.0, ge=0)
    """Upper bound of any single backoff."""
    retry_after_cap: float = Field(default=60.0, ge=0)
    """A vendor's ``Retry-After`` is honoured up to this many seconds, never more."""
    max_body_bytes: int = Field(default=5_000_000, ge=1)
    """A response body larger than this is rejected as :class:`InvalidResponse`."""
    failure_threshold: int = Field(default=5, ge=1)
    """Consecutive failures that open the circuit."""
    cool_down: float = Field(default=30.0, ge=0)
    """Seconds the circuit stays open before one trial call is let through."""
    max_pages: int = Field(default=1000, ge=1)
    """Pagination stops with an error past this many pages (a vendor looping forever)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HttpHooks:
    """The side effects a resilient call needs, injectable so tests never really wait."""

    sleep: Callable[[float], None] = time.sleep
    """Called with the seconds to wait between attempts."""
    clock: Callable[[], float] = time.monotonic
    """Monotonic seconds, for the breaker's cool-down and token expiry."""
    now: Callable[[], datetime] = _utcnow
    """Aware UTC wall clock, for HTTP-date ``Retry-After`` values and job timestamps."""
    rng: random.Random | None = None
    """Randomness for backoff jitter; a fresh ``random.Random`` when ``None``."""


@dataclass(frozen=True)
class CallScope:
    """What a caller knows about the calls it makes inside :func:`call_scope`."""

    idempotent: bool = False
    """The caller vouches that repeating the call is harmless (a capability marked idempotent)."""
    sleep: Callable[[float], None] | None = None
    """Waits between attempts here instead of the client's hooks (a worker keeping its claim)."""
    on_wait: Callable[[TransientError, float], None] | None = None
    """Told of each wait before it starts: the failure and the seconds about to be waited."""


_SCOPE: ContextVar[CallScope | None] = ContextVar("opshand_call_scope", default=None)


@contextmanager
def call_scope(
    *,
    idempotent: bool = False,
    sleep: Callable[[float], None] | None = None,
    on_wait: Callable[[TransientError, float], None] | None = None,
) -> Iterator[CallScope]:
    """Integration calls made inside this block use what the caller knows (:class:`CallScope`)."""
    scope = CallScope(idempotent=idempotent, sleep=sleep, on_wait=on_wait)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def call_with_retries(
    send: Callable[[], _T],
    *,
    call: str,
    idempotent: bool,
    breaker: CircuitBreaker,
    options: ResilienceOptions,
    hooks: HttpHooks,
    rng: random.Random,
    prepare: Callable[[], None] | None = None,
    resend_at_once: Callable[[AdapterError], bool] | None = None,
) -> _T:
    """Send one logical call: as many attempts as the policy allows, through the breaker.

    Args:
        send: Makes one attempt; raises :mod:`adapters.errors` types.
        call: The vendor call's name (breaker, logs).
        idempotent: Whether the client knows repeating the call is harmless.
        breaker: The integration's circuit breaker.
        options: Attempts, backoff and ``Retry-After`` cap.
        hooks: The client's sleep (used unless the caller's scope gives one).
        rng: Randomness for the jitter.
        prepare: Runs before the breaker is asked, each attempt (a token fetch is a call of
            its own and must not take the half-open breaker's one probe slot).
        resend_at_once: Says whether a clear refusal is sent once more at once, without
            counting as an attempt (a 401 answered with a refreshed token).

    Raises:
        AdapterError: The last attempt's error, with :attr:`AdapterError.attempts` set.
    """
    scope = _SCOPE.get() or CallScope()
    repeatable = idempotent or scope.idempotent
    sent: list[AdapterError] = []  # this call's failed attempts, in order
    tries = [0]
    resent = [False]

    def once() -> _T:
        if prepare is not None:
            prepare()
        try:
            breaker.before_call(call)
        except CircuitOpen as exc:
            if not sent:
                raise
            # This call's own failures opened the circuit: it has had its tries.
            failed = sent[-1]
            raise _GaveUp(
                f"{failed.args[0] if failed.args else failed}; {exc.args[0]}",
                integration=failed.integration,
                call=failed.call,
            ) from exc
        tries[0] += 1
        try:
            result = send()
        except (TransientError, AmbiguousOutcome) as exc:
            breaker.record_failure()
            sent.append(exc)
            raise
        except AdapterError:
            # A clear answer (not found, auth refused, conflict): the integration is healthy.
            breaker.record_success()
            raise
        breaker.record_success()
        return result

    def attempt() -> _T:
        try:
            return once()
        except (TransientError, AmbiguousOutcome, CircuitOpen):
            raise
        except AdapterError as exc:
            again = resend_at_once is not None and resend_at_once(exc)
            if not again or resent[0]:
                raise
            resent[0] = True
            tries[0] -= 1  # the refused request does not count as an attempt
            return once()

    def should_retry(exc: BaseException) -> bool:
        if isinstance(exc, _GaveUp):
            return False
        if isinstance(exc, RateLimited):
            return True  # not processed, so a write may repeat it too
        return repeatable and isinstance(exc, TransientError)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, TransientError)
        if exc.retry_after is not None:  # the vendor said when (429, and 503 too)
            return min(max(0.0, exc.retry_after), options.retry_after_cap)
        ceiling = options.backoff_base * 2 ** (state.attempt_number - 1)
        return rng.uniform(0.0, min(options.backoff_max, ceiling))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, TransientError)
        seconds = state.upcoming_sleep
        _log.info(
            "%s.%s attempt %d failed (%s); retrying in %.2fs",
            exc.integration, call, state.attempt_number, type(exc).__name__, seconds,
        )  # fmt: skip
        if scope.on_wait is not None:
            scope.on_wait(exc, seconds)

    retrying = Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(options.max_attempts),
        wait=wait,
        before_sleep=before_sleep,
        sleep=scope.sleep or hooks.sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except AdapterError as exc:
        if tries[0]:
            exc.attempts = tries[0]
        raise


class _GaveUp(TransientError):
    """The last failure of a call whose own failures opened the circuit (not retried)."""


def breaker_for(integration: str, options: ResilienceOptions, hooks: HttpHooks) -> CircuitBreaker:
    """A new breaker for one integration, with its threshold and cool-down and the hooks' clock."""
    return CircuitBreaker(
        integration,
        failure_threshold=options.failure_threshold,
        cool_down=options.cool_down,
        clock=hooks.clock,
    )


def breaker_of(client: object) -> CircuitBreaker | None:
    """The circuit breaker an integration client sends through, if it has one.

    A :class:`~adapters.resilient.Resilient` wrapper holds it as ``breaker``; a vendor client
    sends through ``http`` (a :class:`~adapters._http.ResilientHttp`).
    """
    for holder in (client, getattr(client, "http", None)):
        breaker = getattr(holder, "breaker", None)
        if isinstance(breaker, CircuitBreaker):
            return breaker
    return None
