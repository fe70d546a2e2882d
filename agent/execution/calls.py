"""How the executor makes one integration call: retries, backoff, circuits, auth holds.

RELIABILITY E1-E7 in one place:

- only idempotent capabilities are retried, a bounded number of times, with full-jitter
  exponential backoff; a vendor's ``Retry-After`` is honoured up to a cap and the wait is audited
  at once (``integration.rate_limited``) so the requester can be told;
- an ambiguous outcome (timeout after send) is never retried: the target goes ``unknown``;
- 401/403 are never retried; the integration's queued work is held for a while and operators are
  alerted (``integration.auth_failed``);
- consecutive transient failures open the integration's circuit: its queued work stays queued
  while other integrations carry on; after the cool-down one probe decides.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from adapters._http import CircuitBreaker
from adapters.contracts import Job
from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    IdempotencyConflict,
    RateLimited,
    TransientError,
)
from agent.execution.source_ids import CapabilityError
from twin.actions import ActionSpec

__all__ = [
    "CallOutcome",
    "IntegrationGuard",
    "RetryPolicy",
    "category_of",
    "job_verdict",
    "jobs_ended",
]

_ENDED_JOB = ("succeeded", "failed", "unknown")


@dataclass(frozen=True)
class RetryPolicy:
    """How integration calls are retried and when an integration is held off."""

    attempts: int = 3
    """Tries per idempotent call (non-idempotent calls are tried once)."""
    base_delay: float = 0.5
    """First backoff ceiling in seconds; doubles per attempt, full jitter."""
    max_delay: float = 20.0
    """Backoff ceiling in seconds."""
    max_retry_after: float = 300.0
    """A vendor's ``Retry-After`` is honoured up to this many seconds."""
    circuit_threshold: int = 5
    """Consecutive transient failures of one integration that open its circuit."""
    circuit_cool_down: float = 60.0
    """Seconds an open circuit stays open before one probe is let through."""
    auth_hold: float = 300.0
    """Seconds an integration's queued work waits after a 401/403 (operators alerted)."""


@dataclass(frozen=True)
class CallOutcome:
    """How one call (with its retries) ended."""

    state: str
    """Target state: ``submitted``, ``failed``, ``unknown`` or ``deferred`` (nothing sent)."""
    jobs: list[Job]
    detail: str
    kind: str
    """Ledger outcome: ``sent``, ``error``, ``auth``, ``ambiguous``, ``conflict``, ``deferred``."""
    attempts: int


def category_of(spec: ActionSpec) -> str:
    """The integration category an action's capability goes through (``rmm``)."""
    return spec.capability.split(".", 1)[0]


def job_verdict(jobs: list[Job]) -> tuple[str, str]:
    """Target state and detail once every job has ended."""
    bad = [j for j in jobs if j.state != "succeeded"]
    if bad:
        return (
            "failed" if all(j.state == "failed" for j in bad) else "unknown",
            "; ".join(f"{j.job_id} {j.state} {j.detail}".strip() for j in bad),
        )
    return "done", "; ".join(f"{j.job_id} succeeded" for j in jobs) or "applied"


def jobs_ended(jobs: list[Job]) -> bool:
    """Whether every job has reached a final state."""
    return all(j.state in _ENDED_JOB for j in jobs)


class IntegrationGuard:
    """Per-integration circuits and auth holds, and the retry loop around one call.

    Args:
        engine: Where the audit rows (rate limits, auth alerts) are written.
        audit: ``audit(conn, *, kind, actor, body, change_id, plan_hash)``.
        actor: The audit actor (the worker).
        retry: The retry, circuit and hold settings.
        monotonic: Clock for circuits and holds.
        rng: Randomness for the backoff jitter.
    """

    def __init__(
        self,
        engine: Engine,
        audit: Callable[..., Any],
        actor: str,
        *,
        retry: RetryPolicy,
        monotonic: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.engine = engine
        self._audit = audit
        self.actor = actor
        self.retry = retry
        self.monotonic = monotonic
        self.rng = rng
        self.breakers: dict[str, CircuitBreaker] = {}
        self.holds: dict[str, tuple[str, float]] = {}
        """Integration -> (reason, monotonic time the hold ends): after a 401/403, or while
        the integration client's own circuit is open."""

    def breaker(self, category: str) -> CircuitBreaker:
        """The circuit breaker of one integration category (created on first use)."""
        if category not in self.breakers:
            self.breakers[category] = CircuitBreaker(
                category,
                failure_threshold=self.retry.circuit_threshold,
                cool_down=self.retry.circuit_cool_down,
                clock=self.monotonic,
            )
        return self.breakers[category]

    def held(self) -> dict[str, str]:
        """Integrations whose work is held now, with the reason (open circuit or auth failure)."""
        out = {c: "circuit open" for c, b in self.breakers.items() if b.state == "open"}
        now = self.monotonic()
        for cat, (why, until) in self.holds.items():
            if until > now:
                out[cat] = why
        return out

    def call(
        self,
        send: Callable[[], list[Job]],
        *,
        spec: ActionSpec,
        key: str,
        where: dict[str, Any],
        pause: Callable[[float], None],
        delays: list[dict[str, Any]],
    ) -> CallOutcome:
        """Send one call with its retries.

        Args:
            send: Makes the call once (with the idempotency key) and returns its jobs.
            spec: The action, for idempotency and the integration category.
            key: The idempotency key (for messages).
            where: ``change_id``, ``plan_hash`` and ``target`` for audit rows.
            pause: Waits that many seconds (and keeps the claim alive).
            delays: Rate-limit waits are appended here for the requester.
        """
        category = category_of(spec)
        breaker = self.breaker(category)
        attempt = 0
        while True:
            attempt += 1
            try:
                breaker.before_call(spec.capability)
            except CircuitOpen as exc:
                return self._not_sent(attempt, exc)
            try:
                jobs = send()
            except CircuitOpen as exc:
                # The integration client's own breaker: hold its queue as if ours were open.
                until = self.monotonic() + self.retry.circuit_cool_down
                self.holds[category] = (f"circuit open: {exc}", until)
                return self._not_sent(attempt, exc)
            except AuthError as exc:
                # A clear answer from a healthy integration: never retried, operators alerted.
                self._auth_failed(category, spec.capability, where, exc)
                return CallOutcome("failed", [], f"not authorised: {exc}", "auth", attempt)
            except IdempotencyConflict as exc:
                why = f"idempotency key {key} was already used with other parameters: {exc}"
                return CallOutcome("failed", [], f"{why}; nothing was executed", "conflict", 1)
            except AmbiguousOutcome as exc:
                breaker.record_failure()
                why = f"no answer after the request was sent ({exc}); reading the estate back"
                return CallOutcome("unknown", [], why, "ambiguous", attempt)
            except TransientError as exc:
                breaker.record_failure()
                if not spec.idempotent:
                    why = f"{exc}; not retried because {spec.kind} is not idempotent"
                    return CallOutcome("failed", [], why, "error", attempt)
                if attempt >= self.retry.attempts:
                    why = f"gave up after {attempt} attempts: {exc}"
                    return CallOutcome("failed", [], why, "error", attempt)
                pause(self._backoff(attempt, exc, where, delays))
                continue
            except (AdapterError, CapabilityError) as exc:
                return CallOutcome("failed", [], str(exc), "error", attempt)
            breaker.record_success()
            sent = ", ".join(f"{j.job_id}:{j.state}" for j in jobs) or "applied"
            return CallOutcome("submitted", jobs, sent, "sent", attempt)

    @staticmethod
    def _not_sent(attempt: int, exc: CircuitOpen) -> CallOutcome:
        if attempt > 1:
            # This call's own failures opened the circuit: the call has had its tries.
            why = f"gave up after {attempt - 1} attempts: {exc}"
            return CallOutcome("failed", [], why, "error", attempt - 1)
        return CallOutcome("deferred", [], str(exc), "deferred", 0)

    def _backoff(
        self,
        attempt: int,
        exc: TransientError,
        where: dict[str, Any],
        delays: list[dict[str, Any]],
    ) -> float:
        """Seconds to wait before the next attempt: capped Retry-After, else full jitter."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            wait = min(max(0.0, exc.retry_after), self.retry.max_retry_after)
            delay = {
                "integration": exc.integration,
                "call": exc.call,
                "target": where["target"],
                "retry_after": exc.retry_after,
                "waited": wait,
                "capped": wait < exc.retry_after,
            }
            delays.append(delay)
            # Audited at once so the requester can be told while the change is still waiting.
            self._write("integration.rate_limited", where, delay)
            return wait
        ceiling = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def _auth_failed(
        self, category: str, capability: str, where: dict[str, Any], exc: AuthError
    ) -> None:
        hold = self.retry.auth_hold
        self.holds[category] = (f"authorisation failed: {exc}", self.monotonic() + hold)
        body = {
            "integration": exc.integration or category,
            "capability": capability,
            "target": where["target"],
            "detail": str(exc),
            "held_seconds": hold,
            "alert": "operators: check this integration's credentials and permissions",
        }
        self._write("integration.auth_failed", where, body)

    def _write(self, kind: str, where: dict[str, Any], body: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            self._audit(
                conn,
                kind=kind,
                actor=self.actor,
                change_id=str(where["change_id"]),
                plan_hash=where.get("plan_hash"),
                body=body,
            )
