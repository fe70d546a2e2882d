"""The resilience policy of :mod:`adapters._http`, for adapters that do not speak HTTP.

Vendor clients get retries, ``Retry-After`` handling and a circuit breaker from
:class:`adapters._http.ResilientHttp`. The simulated estate raises the same errors (its fault
rules stand in for a vendor's 503, 429 or 401) but sends nothing over a wire, so
:class:`Resilient` wraps a whole contract object with the same policy, the one retry layer of
:func:`adapters._retry.call_with_retries`: reads (methods without an ``idempotency_key``) are
retried with bounded jittered backoff, a 429 is retried on any call with ``Retry-After`` honoured
up to the cap, other failures of changes are tried once (unless the caller's
:func:`~adapters._retry.call_scope` says the change is idempotent), auth errors are never
retried, and one breaker per integration opens after repeated failures. The demo and the tests
then meet the sim exactly as they would meet a vendor.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from adapters._breaker import CircuitBreaker
from adapters._retry import HttpHooks, ResilienceOptions, breaker_for, call_with_retries
from adapters.contracts import CATEGORIES, contract_method_names
from adapters.errors import AdapterError, RateLimited

__all__ = ["Resilient", "contract_methods"]

# Every method a contract Protocol declares, by category.
CONTRACT_METHODS: dict[str, tuple[str, ...]] = {c: contract_method_names(c) for c in CATEGORIES}


def contract_methods(category: str, adapter: object) -> list[str]:
    """The contract methods of ``category`` that ``adapter`` implements, in contract order.

    Raises:
        ValueError: ``category`` is not one of the six contract categories.
    """
    if category not in CONTRACT_METHODS:
        raise ValueError(
            f"unknown integration category {category!r}; "
            f"expected one of {', '.join(sorted(CONTRACT_METHODS))}"
        )
    return [m for m in CONTRACT_METHODS[category] if callable(getattr(adapter, m, None))]


def _changes_state(method: Callable[..., Any]) -> bool:
    try:
        return "idempotency_key" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return True  # unknown: treat as a change, so it is never retried


class Resilient:
    """Wraps a contract object with retries for reads, a ``Retry-After`` cap and a breaker.

    Attribute access goes to the wrapped adapter, so the wrapper satisfies the same
    ``runtime_checkable`` contract Protocols; every public method call runs through the policy.

    Args:
        inner: the adapter (e.g. ``sim.rmm``).
        integration: name for the breaker and logs, e.g. ``"sim-rmm"``.
        options: the same :class:`ResilienceOptions` vendor clients take (timeouts, body limits
            and pagination do not apply here).
        hooks: sleep, monotonic clock and randomness (fakes in tests).
        breaker: share or inspect a breaker; one is made otherwise.
    """

    def __init__(
        self,
        inner: object,
        *,
        integration: str,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.inner = inner
        self.integration = integration
        self.options = options or ResilienceOptions()
        self.hooks = hooks or HttpHooks()
        self._rng = self.hooks.rng or random.Random()
        self.breaker = breaker or breaker_for(integration, self.options, self.hooks)

    def __repr__(self) -> str:
        return f"Resilient({self.inner!r}, integration={self.integration!r})"

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name.startswith("_") or not callable(target):
            return target
        retryable = not _changes_state(target)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(name, target, retryable, args, kwargs)

        call.__name__ = name
        call.__doc__ = target.__doc__
        call.__signature__ = inspect.signature(target)  # type: ignore[attr-defined]
        return call

    def _run(
        self,
        name: str,
        target: Callable[..., Any],
        retryable: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        try:
            return call_with_retries(
                lambda: target(*args, **kwargs),
                call=name,
                idempotent=retryable,
                breaker=self.breaker,
                options=self.options,
                hooks=self.hooks,
                rng=self._rng,
            )
        except RateLimited as exc:
            capped = self._capped(exc)
            if capped is exc:
                raise
            capped.attempts = exc.attempts
            raise capped from exc

    def _capped(self, exc: AdapterError) -> AdapterError:
        """The same error with any ``retry_after`` held to the cap."""
        if not isinstance(exc, RateLimited) or exc.retry_after is None:
            return exc
        cap = self.options.retry_after_cap
        if exc.retry_after <= cap:
            return exc
        return RateLimited(
            f"{exc.args[0] if exc.args else 'rate limited'} (Retry-After capped at {cap:.0f}s)",
            retry_after=cap,
            integration=exc.integration,
            call=exc.call,
        )
