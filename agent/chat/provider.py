"""Calling a chat model inside a turn's time budget, and saying plainly what failed.

Providers fail in a handful of ways a person can act on: the key is wrong, the account is rate
limited (and for how long), the call timed out, the model name is unknown, the provider is down,
or its LangChain package is not installed. :func:`classify` maps any provider's exception (the
OpenAI and Anthropic SDKs, httpx, ollama) onto :class:`ModelFailure` by status code and class
name, so no SDK has to be imported to recognise its errors.

:func:`call_within` runs one model call in a daemon thread and waits at most until the turn's
deadline, so ``model.max_seconds`` bounds the whole turn for every provider (ollama's client has
no timeout of its own). Rate limits and transient errors are retried here, not in the SDK (its
retries would sleep past the deadline): a ``Retry-After`` wait is honoured only when it ends
before the deadline, else the failure says how long the provider asked to wait.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "MAX_PROVIDER_RETRIES",
    "FailureKind",
    "ModelFailure",
    "call_within",
    "classify",
    "retry_after",
]

MAX_PROVIDER_RETRIES = 2
"""Retries of a rate-limited or transiently failing call within one turn."""

FailureKind = Literal[
    "authentication", "rate_limit", "timeout", "unknown_model", "package", "unavailable", "error"
]


class ModelFailure(Exception):
    """A model call failed; ``message`` says what and what to do, in one sentence.

    Attributes:
        kind: What failed (see :data:`FailureKind`).
        message: The sentence for the person.
        retry_after: Seconds the provider asked to wait (rate limits), when it said.
    """

    def __init__(
        self, *, kind: FailureKind, message: str, retry_after: float | None = None
    ) -> None:
        """Record what failed."""
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether trying again later may work (rate limits, timeouts, outages)."""
        return self.kind in ("rate_limit", "timeout", "unavailable")


def _header(exc: BaseException, name: str) -> str | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get(name)
    except Exception:  # a headers object of an unknown shape: no hint, not a crash
        return None
    return str(value) if value is not None else None


def retry_after(exc: BaseException) -> float | None:
    """Seconds from the ``retry-after-ms`` or ``retry-after`` header of a provider error."""
    ms = _header(exc, "retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = _header(exc, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from model providers; treated as "no hint"


def classify(exc: BaseException, *, provider: str = "the model provider") -> ModelFailure:
    """What failed, as a :class:`ModelFailure` (already-classified failures pass through)."""
    if isinstance(exc, ModelFailure):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if isinstance(exc, ImportError) or name == "ModelUnavailable":
        return ModelFailure(kind="package", message=f"{provider} cannot be used: {exc}")
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return ModelFailure(
            kind="authentication",
            message=f"{provider} refused the API key (HTTP {status or 401}); check model.api_key "
            "or the provider's key variable",
        )
    if status == 429 or name == "RateLimitError":
        wait = retry_after(exc)
        hint = f"; it asked to wait {wait:g} s" if wait is not None else ""
        return ModelFailure(
            kind="rate_limit", message=f"{provider} is rate limiting us{hint}", retry_after=wait
        )
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return ModelFailure(kind="timeout", message=f"{provider} did not answer in time")
    if status == 404 or name == "NotFoundError":
        return ModelFailure(
            kind="unknown_model",
            message=f"{provider} does not know the model (HTTP 404); check model.name",
        )
    if (isinstance(status, int) and status >= 500) or name in (
        "InternalServerError",
        "APIConnectionError",
        "ConnectError",
        "ConnectionError",
        "ServiceUnavailableError",
    ):
        what = f"HTTP {status}" if status else name
        return ModelFailure(kind="unavailable", message=f"{provider} is unavailable ({what})")
    return ModelFailure(kind="error", message=f"{provider} failed ({name})")


def _once(fn: Callable[[], Any], seconds: float, provider: str) -> Any:
    """``fn()`` in a daemon thread, waited on for at most ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    # A daemon thread: an abandoned call must not keep ``opshand ask`` from exiting; the
    # client's own timeout (set to the turn's budget) ends it soon after.
    # The caller's context goes along, so log lines keep their correlation ids.
    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(run,), name="opshand-model-call", daemon=True
    )
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        raise ModelFailure(
            kind="timeout", message=f"{provider} did not answer within the turn's {seconds:.0f} s"
        )
    if "error" in box:
        raise classify(box["error"], provider=provider)
    return box["value"]


def call_within(
    fn: Callable[[], Any],
    *,
    deadline: float,
    provider: str = "the model provider",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    retries: int = MAX_PROVIDER_RETRIES,
) -> Any:
    """Call ``fn`` until it answers, retrying transient failures, never past ``deadline``.

    Args:
        fn: The model call.
        deadline: ``clock()`` value the turn must end by.
        provider: How to name the provider in failure sentences.
        clock: Monotonic seconds.
        sleep: Waits between retries (tests pass a fake).
        retries: Retries of rate limits, timeouts and outages.

    Raises:
        ModelFailure: The call failed for good, or the budget ran out first.
    """
    attempt = 0
    while True:
        left = deadline - clock()
        if left <= 0:
            raise ModelFailure(kind="timeout", message=f"{provider} ran out of the turn's time")
        try:
            return _once(fn, left, provider)
        except ModelFailure as failure:
            if not failure.transient or attempt >= retries or failure.kind == "timeout":
                raise
            wait = failure.retry_after if failure.retry_after is not None else 2.0**attempt
            if clock() + wait >= deadline:
                if failure.kind == "rate_limit" and failure.retry_after is not None:
                    raise ModelFailure(
                        kind="rate_limit",
                        message=f"{provider} is rate limiting us and asked to wait "
                        f"{failure.retry_after:g} s, longer than this turn has left",
                        retry_after=failure.retry_after,
                    ) from failure
                raise
            attempt += 1
            sleep(wait)
