"""How the executor makes one integration call and classifies how it ended.

RELIABILITY E1-E7. The integration clients are the one retry layer
(:func:`adapters._retry.call_with_retries`: bounded full-jitter backoff, ``Retry-After`` up to a
cap, one circuit breaker per integration); the executor does not retry again. It tells the
client what it knows through a :func:`~adapters._retry.call_scope` and reads the outcome:

- an idempotent capability may be repeated on a transient failure (the scope says so); a vendor's
  ``Retry-After`` wait is audited at once (``integration.rate_limited``) so the requester can be
  told, and the wait keeps the worker's claim alive;
- an ambiguous outcome (timeout after send) is never repeated: the target goes ``unknown``;
- 401/403 are never retried; the integration's queued work is held for a while and operators are
  alerted (``integration.auth_failed``);
- when the client's circuit is open nothing is sent: the integration's queued work stays queued
  while other integrations carry on, until the hold ends and the breaker lets a probe through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from adapters import call_scope
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
from agent.execution.journal import AuditFn
from agent.execution.source_ids import CapabilityError
from twin.actions import ActionSpec

__all__ = [
    "CallOutcome",
    "HoldPolicy",
    "IntegrationGuard",
    "category_of",
    "job_verdict",
    "jobs_ended",
]

_ENDED_JOB = ("succeeded", "failed", "unknown")


@dataclass(frozen=True)
class HoldPolicy:
    """How long an integration's queued work is held off after it refused or went down."""

    circuit_hold: float = 60.0
    """Seconds queued work waits after the integration client's circuit was found open."""
    auth_hold: float = 300.0
    """Seconds an integration's queued work waits after a 401/403 (operators alerted)."""


@dataclass(frozen=True)
class CallOutcome:
    """How one call (with the client's retries) ended."""

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
    """Per-integration holds, and the classification of one call's outcome.

    Args:
        engine: Where the audit rows (rate limits, auth alerts) are written.
        audit: ``audit(conn, *, kind, actor, body, change_id, plan_hash)``.
        actor: The audit actor (the worker).
        holds: How long integrations are held off.
        monotonic: Clock for holds.
    """

    def __init__(
        self,
        engine: Engine,
        audit: AuditFn,
        actor: str,
        *,
        holds: HoldPolicy,
        monotonic: Callable[[], float],
    ) -> None:
        self.engine = engine
        self._audit = audit
        self.actor = actor
        self.policy = holds
        self.monotonic = monotonic
        self.holds: dict[str, tuple[str, float]] = {}
        """Integration -> (reason, monotonic time the hold ends): after a 401/403, or while
        the integration client's circuit is open."""

    def held(self) -> dict[str, str]:
        """Integrations whose work is held now, with the reason (open circuit or auth failure)."""
        now = self.monotonic()
        return {cat: why for cat, (why, until) in self.holds.items() if until > now}

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
        """Send one call (the client retries what may be retried) and classify how it ended.

        Args:
            send: Makes the call (with the idempotency key) and returns its jobs.
            spec: The action, for idempotency and the integration category.
            key: The idempotency key (for messages).
            where: ``change_id``, ``plan_hash`` and ``target`` for audit rows.
            pause: Waits that many seconds (and keeps the claim alive).
            delays: Rate-limit waits are appended here for the requester.
        """
        category = category_of(spec)
        waits: list[float] = []

        def waiting(exc: TransientError, seconds: float) -> None:
            waits.append(seconds)
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                self._rate_limited(exc, seconds, where, delays)

        try:
            with call_scope(idempotent=spec.idempotent, sleep=pause, on_wait=waiting):
                jobs = send()
        except CircuitOpen as exc:
            # Nothing was sent: hold the integration's queue while its circuit is open.
            self.holds[category] = (
                f"circuit open: {exc}",
                self.monotonic() + self.policy.circuit_hold,
            )
            return CallOutcome("deferred", [], str(exc), "deferred", 0)
        except AuthError as exc:
            # A clear answer from a healthy integration: never retried, operators alerted.
            self._auth_failed(category, spec.capability, where, exc)
            return CallOutcome("failed", [], f"not authorised: {exc}", "auth", exc.attempts)
        except IdempotencyConflict as exc:
            why = f"idempotency key {key} was already used with other parameters: {exc}"
            return CallOutcome("failed", [], f"{why}; nothing was executed", "conflict", 1)
        except AmbiguousOutcome as exc:
            why = f"no answer after the request was sent ({exc}); reading the estate back"
            return CallOutcome("unknown", [], why, "ambiguous", exc.attempts)
        except TransientError as exc:
            if exc.attempts == 1 and not spec.idempotent:
                why = f"{exc}; not retried because {spec.kind} is not idempotent"
            else:
                why = f"gave up after {exc.attempts} attempts: {exc}"
            return CallOutcome("failed", [], why, "error", exc.attempts)
        except AdapterError as exc:
            return CallOutcome("failed", [], str(exc), "error", exc.attempts)
        except CapabilityError as exc:
            return CallOutcome("failed", [], str(exc), "error", 1)
        sent = ", ".join(f"{j.job_id}:{j.state}" for j in jobs) or "applied"
        return CallOutcome("submitted", jobs, sent, "sent", 1 + len(waits))

    def _rate_limited(
        self,
        exc: RateLimited,
        wait: float,
        where: dict[str, Any],
        delays: list[dict[str, Any]],
    ) -> None:
        """Record a ``Retry-After`` wait for the requester, audited at once."""
        asked = exc.retry_after if exc.retry_after is not None else wait
        delay = {
            "integration": exc.integration,
            "call": exc.call,
            "target": where["target"],
            "retry_after": asked,
            "waited": wait,
            "capped": wait < asked,
        }
        delays.append(delay)
        # Audited at once so the requester can be told while the change is still waiting.
        self._write("integration.rate_limited", where, delay)

    def _auth_failed(
        self, category: str, capability: str, where: dict[str, Any], exc: AuthError
    ) -> None:
        hold = self.policy.auth_hold
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
