"""The executor: runs queued changes wave by wave, exactly as planned, then reconciles.

Crash safety: a target is marked ``calling`` (committed, with a row in ``journal_call``) before
its adapter call, and ``submitted`` with the job id after, in the transaction that also writes the
call's audit row. A worker that finds a ``calling`` target after a crash re-sends the call only
when the action is idempotent (same idempotency key, so the vendor de-duplicates it); otherwise it
marks the target ``unknown`` and reconciliation reads the estate back, then resolves or escalates.
Every adapter call carries the idempotency key ``CR-<id>:<target>``.

Integration faults (RELIABILITY E1-E7): only idempotent calls are retried, with bounded, jittered
backoff that honours (capped) ``Retry-After``; 401/403 are never retried, raise an operator alert
and hold that integration's queued work; repeated transient failures open the integration's
circuit, which keeps its queued work queued while other integrations carry on.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update

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
from agent.capabilities import Adapters, CapabilityError, Observation, invoke
from agent.journal import (
    Change,
    IllegalTransition,
    Journal,
    call_table,
    journal_table,
    target_table,
)
from agent.reconcile import Reconciler
from twin.actions import CATALOG, ActionSpec, get_action
from twin.graph import TwinGraph
from twin.model import utcnow
from twin.plan import Plan, stale_entities
from twin.store import TwinStore

__all__ = ["STEPS", "ExecutionReport", "Executor", "RetryPolicy", "TargetResult"]

LEASE = timedelta(seconds=60)
JOB_TIMEOUT = timedelta(minutes=30)
STEPS = (
    "claimed",
    "targets_ready",
    "target_calling",
    "call_returned",
    "target_submitted",
    "target_done",
    "before_reconcile",
)
"""Step boundaries where ``step_hook`` is called (crash tests kill the worker at each)."""
_ENDED = ("done", "failed", "unknown", "skipped", "rolled_back")


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
class TargetResult:
    """How one target ended."""

    target: str
    wave: int
    state: str
    detail: str


@dataclass
class ExecutionReport:
    """What one run of a change did, per target."""

    change_id: int
    final_state: str
    targets: list[TargetResult] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    halted_at_wave: int | None = None
    message: str = ""
    delays: list[dict[str, Any]] = field(default_factory=list)
    """Rate-limit waits (integration, seconds) the requester should be told about."""


@dataclass(frozen=True)
class _Outcome:
    state: str  # submitted | failed | unknown | deferred
    jobs: list[Job]
    detail: str
    kind: str  # sent | error | auth | ambiguous | conflict | deferred
    attempts: int


def _category(spec: ActionSpec) -> str:
    return spec.capability.split(".", 1)[0]


class Executor:
    """Claims queued changes and carries them out through the adapters."""

    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        store: TwinStore,
        graph: Callable[[], TwinGraph],
        adapters: Adapters,
        *,
        audit: Callable[..., Any],
        recheck: Callable[[Change], str | None] = lambda c: None,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 0.2,
        worker_id: str = "worker",
        lease: timedelta = LEASE,
        retry: RetryPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        step_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.store = store
        self.graph = graph
        self.adapters = adapters
        self._audit = audit
        self.recheck = recheck
        self.now = now
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.worker_id = worker_id
        self.lease = lease
        self.retry = retry or RetryPolicy()
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.step_hook = step_hook
        self.breakers: dict[str, CircuitBreaker] = {}
        self.auth_holds: dict[str, tuple[str, float]] = {}
        """Integration -> (reason, monotonic time the hold ends) after a 401/403."""
        self.reconciler = Reconciler(self)

    @property
    def actor(self) -> str:
        """The audit actor of this worker."""
        return f"system:{self.worker_id}"

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    # ------------------------------------------------------------------ integration health
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
        for cat, (why, until) in self.auth_holds.items():
            if until > now:
                out[cat] = why
        return out

    # ------------------------------------------------------------------ claiming
    def claim(self, limit: int = 1) -> list[tuple[int, str]]:
        """Claim queued changes (and executing ones whose lease expired) with a lease token.

        On PostgreSQL the select takes row locks with ``FOR UPDATE SKIP LOCKED`` so concurrent
        workers never claim the same row; on SQLite the write transaction is exclusive. Changes
        for an integration that is held (open circuit, auth failure) stay queued.
        """
        now = self.now()
        held = self.held()
        blocked = [k for k, spec in CATALOG.items() if _category(spec) in held]
        out: list[tuple[int, str]] = []
        with self.engine.begin() as conn:
            q = (
                select(journal_table.c.id, journal_table.c.state)
                .where(
                    or_(
                        journal_table.c.state == "queued",
                        and_(
                            journal_table.c.state == "executing", journal_table.c.lease_until < now
                        ),
                    )
                )
                .order_by(journal_table.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if blocked:
                q = q.where(journal_table.c.action.notin_(blocked))
            for row in conn.execute(q).all():
                token = secrets.token_hex(8)
                if row.state == "queued":
                    self.journal.move(
                        row.id,
                        "executing",
                        actor=self.actor,
                        conn=conn,
                        expect=["queued"],
                        body={"worker": self.worker_id},
                        new_lease=token,
                        lease_until=now + self.lease,
                    )
                else:
                    conn.execute(
                        update(journal_table)
                        .where(journal_table.c.id == row.id)
                        .values(lease_token=token, lease_until=now + self.lease)
                    )
                    self._audit(
                        conn,
                        kind="change.lease_taken_over",
                        actor=self.actor,
                        change_id=str(row.id),
                        plan_hash=None,
                        body={"worker": self.worker_id},
                    )
                out.append((int(row.id), token))
        return out

    def heartbeat(self, change_id: int, token: str) -> None:
        """Extend the lease; raises :class:`IllegalTransition` if another worker took it over."""
        with self.engine.begin() as conn:
            res = conn.execute(
                update(journal_table)
                .where(journal_table.c.id == change_id, journal_table.c.lease_token == token)
                .values(lease_until=self.now() + self.lease)
            )
            if res.rowcount != 1:
                raise IllegalTransition(f"CR-{change_id}: lease lost")

    def work_once(self, limit: int = 10) -> list[ExecutionReport]:
        """Claim and run up to ``limit`` changes."""
        reports = []
        for cid, token in self.claim(limit):
            self._step("claimed")
            reports.append(self.run(cid, token))
        return reports

    # ------------------------------------------------------------------ target rows
    def _targets(self, change_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {
                r.target: r
                for r in conn.execute(
                    select(target_table).where(target_table.c.change_id == change_id)
                )
            }

    def _set_target(
        self,
        change_id: int,
        target: str,
        token: str,
        *,
        call: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """Update one target row, its call ledger row and their audit rows in one transaction."""
        with self.engine.begin() as conn:
            live = conn.execute(
                select(journal_table.c.id).where(
                    journal_table.c.id == change_id, journal_table.c.lease_token == token
                )
            ).first()
            if live is None:
                raise IllegalTransition(f"CR-{change_id}: lease lost")
            conn.execute(
                update(target_table)
                .where(target_table.c.change_id == change_id, target_table.c.target == target)
                .values(updated_at=self.now(), **values)
            )
            if call is not None:
                self._ledger(conn, change_id, target, call)
            if "state" in values:
                self._audit(
                    conn,
                    kind="change.target",
                    actor=self.actor,
                    change_id=str(change_id),
                    plan_hash=None,
                    body={
                        "target": target,
                        **{k: v for k, v in values.items() if k in ("state", "job_id", "detail")},
                    },
                )

    def _ledger(self, conn: Any, change_id: int, target: str, call: dict[str, Any]) -> None:
        """Insert (``start``) or finish a ``journal_call`` row and audit the integration call."""
        key = call["idempotency_key"]
        if call.get("start"):
            conn.execute(
                insert(call_table).values(
                    change_id=change_id,
                    target=target,
                    idempotency_key=key,
                    capability=call["capability"],
                    started_at=self.now(),
                    outcome="calling",
                    attempts=0,
                    detail="",
                )
            )
            return
        conn.execute(
            update(call_table)
            .where(call_table.c.idempotency_key == key, call_table.c.outcome == "calling")
            .values(
                finished_at=self.now(),
                outcome=call["outcome"],
                attempts=call.get("attempts", 0),
                detail=call.get("detail", ""),
            )
        )
        self._audit(
            conn,
            kind="integration.call",
            actor=self.actor,
            change_id=str(change_id),
            plan_hash=call.get("plan_hash"),
            body={
                "capability": call["capability"],
                "target": target,
                "outcome": call["outcome"],
                "attempts": call.get("attempts", 0),
                "detail": call.get("detail", ""),
                "idempotency_key": key,
            },
        )

    def _ensure_targets(self, change: Change, plan: Plan) -> None:
        with self.engine.begin() as conn:
            have = {
                r.target
                for r in conn.execute(
                    select(target_table.c.target).where(target_table.c.change_id == change.id)
                )
            }
            rows = [
                {
                    "change_id": change.id,
                    "target": t,
                    "wave": w,
                    "state": "pending",
                    "idempotency_key": f"{change.ref}:{t}",
                    "detail": "",
                    "updated_at": self.now(),
                }
                for w, wave in enumerate(plan.waves)
                for t in wave
                if t not in have
            ]
            if rows:
                conn.execute(target_table.insert(), rows)

    # ------------------------------------------------------------------ running
    def _refusal(self, change: Change, plan: Plan) -> str | None:
        """Last checks before touching anything: hash intact, not expired, no drift, consent."""
        if plan.compute_hash() != plan.hash or plan.hash != change.plan_hash:
            return "the plan's content no longer matches its hash"
        if plan.expires_at < self.now():
            return "the plan expired before it ran"
        if drift := stale_entities(plan, self.graph()):
            return f"the twin changed since rehearsal: {', '.join(sorted(drift)[:5])}"
        return self.recheck(change)

    def run(self, change_id: int, token: str) -> ExecutionReport:
        """Carry out one claimed change to a final or waiting state."""
        change = self.journal.get(change_id)
        if change.plan is None:
            raise ValueError(f"{change.ref} is queued without a plan")
        plan = Plan.model_validate(change.plan)
        rows = self._targets(change_id)
        # Once a call may have left, the checks no longer apply: the change must be finished.
        untouched = all(r.state == "pending" for r in rows.values())
        problem = self._refusal(change, plan) if untouched else None
        if problem is not None:
            return self._refuse(change, token, problem)
        spec = get_action(plan.action)
        held = self.held().get(_category(spec))
        if held is not None and untouched:
            return self._release(change, token, f"{_category(spec)} integration held: {held}")
        self._ensure_targets(change, plan)
        self._step("targets_ready")
        report = ExecutionReport(change_id, "executing")
        for wave_no, wave in enumerate(plan.waves):
            self.heartbeat(change_id, token)
            failures = 0
            for tid in wave:
                row = self._targets(change_id)[tid]
                res = self._run_target(change, plan, spec, tid, row, token, report)
                if res is None:  # nothing was sent: the integration's circuit is open
                    return self._release(change, token, f"{_category(spec)} circuit open")
                report.targets.append(res)
                failures += res.state in ("failed", "unknown")
            rate = failures / max(1, len(wave))
            if failures and (rate > plan.halt_threshold or (wave_no == 0 and len(plan.waves) > 1)):
                report.halted_at_wave = wave_no
                for later in plan.waves[wave_no + 1 :]:
                    for tid in later:
                        self._set_target(
                            change_id,
                            tid,
                            token,
                            state="skipped",
                            detail=f"halted after wave {wave_no}",
                        )
                        report.targets.append(TargetResult(tid, -1, "skipped", "halted"))
                break
        self._step("before_reconcile")
        return self.reconciler.finish(change, plan, token, report)

    def _refuse(self, change: Change, token: str, problem: str) -> ExecutionReport:
        for tid in self._targets(change.id):
            self._set_target(change.id, tid, token, state="skipped", detail="refused")
        with self.engine.begin() as conn:
            self.journal.move(
                change.id,
                "failed",
                actor=self.actor,
                conn=conn,
                lease_token=token,
                body={"reason": problem, "executed": 0},
                result={"message": problem, "stale": True},
            )
            self.journal.move(
                change.id,
                "escalated",
                actor=self.actor,
                conn=conn,
                body={"reason": f"refused before execution: {problem}"},
            )
        return ExecutionReport(change.id, "escalated", message=problem)

    def _release(self, change: Change, token: str, why: str) -> ExecutionReport:
        """Hand the change back to the queue untouched: its work is kept, not failed."""
        self.journal.move(
            change.id,
            "queued",
            actor=self.actor,
            expect=["executing"],
            lease_token=token,
            body={"deferred": why},
            lease_until=None,
        )
        return ExecutionReport(change.id, "queued", message=f"deferred: {why}")

    def _run_target(
        self,
        change: Change,
        plan: Plan,
        spec: ActionSpec,
        tid: str,
        row: Any,
        token: str,
        report: ExecutionReport,
    ) -> TargetResult | None:
        if row.state in _ENDED:
            return TargetResult(tid, row.wave, row.state, row.detail)
        key = row.idempotency_key
        jobs: list[Job] = []
        if row.state == "calling" and not spec.idempotent:
            # We crashed between marking the call and recording its outcome, and the action is
            # not repeatable: never call again blindly, read the estate back (reconciliation).
            detail = "outcome unknown after a restart; reading the estate back"
            self._set_target(
                change.id,
                tid,
                token,
                state="unknown",
                detail=detail,
                call={
                    "idempotency_key": key,
                    "capability": spec.capability,
                    "outcome": "unknown",
                    "detail": detail,
                    "plan_hash": change.plan_hash,
                },
            )
            return TargetResult(tid, row.wave, "unknown", detail)
        if row.state in ("pending", "calling"):
            # A repeatable call interrupted by a crash is simply sent again with the same key.
            ledger = {"idempotency_key": key, "capability": spec.capability}
            if row.state == "calling":
                self._finish_call(change, tid, token, ledger, "interrupted", "worker restarted")
            self._set_target(change.id, tid, token, state="calling", call={**ledger, "start": 1})
            self._step("target_calling")
            out = self._invoke(change, spec, tid, plan.params, key, token, report)
            self._step("call_returned")
            if out.state == "deferred":
                self._set_target(
                    change.id,
                    tid,
                    token,
                    state="pending",
                    detail=out.detail,
                    call={**ledger, "outcome": "not_sent", "detail": out.detail},
                )
                return None
            self._set_target(
                change.id,
                tid,
                token,
                state=out.state,
                detail=out.detail if out.state != "submitted" else "",
                job_id=",".join(j.job_id for j in out.jobs),
                call={
                    **ledger,
                    "outcome": out.kind,
                    "attempts": out.attempts,
                    "detail": out.detail,
                    "plan_hash": change.plan_hash,
                },
            )
            if out.state != "submitted":
                return TargetResult(tid, row.wave, out.state, out.detail)
            self._step("target_submitted")
            jobs = out.jobs
        else:  # submitted before a restart: follow the recorded jobs
            try:
                rmm = self.adapters.need("rmm")
                jobs = [rmm.job_status(j) for j in (row.job_id or "").split(",") if j]
            except (AdapterError, CapabilityError) as exc:
                jobs = [
                    Job(
                        job_id=row.job_id or "?",
                        state="unknown",
                        target=tid,
                        kind="?",
                        detail=f"job status unavailable: {exc}",
                    )
                ]
        state, detail = self._wait(jobs, token, change.id)
        self._set_target(change.id, tid, token, state=state, detail=detail)
        self._step("target_done")
        return TargetResult(tid, row.wave, state, detail)

    def _finish_call(
        self, change: Change, tid: str, token: str, ledger: dict[str, Any], outcome: str, why: str
    ) -> None:
        self._set_target(change.id, tid, token, call={**ledger, "outcome": outcome, "detail": why})

    # ------------------------------------------------------------------ one call, with retries
    def _invoke(
        self,
        change: Change,
        spec: ActionSpec,
        tid: str,
        params: dict[str, Any],
        key: str,
        token: str,
        report: ExecutionReport,
    ) -> _Outcome:
        category = _category(spec)
        breaker = self.breaker(category)
        graph = self.graph()
        attempt = 0
        while True:
            attempt += 1
            try:
                breaker.before_call(spec.capability)
            except CircuitOpen as exc:
                return _Outcome("deferred", [], str(exc), "deferred", attempt - 1)
            try:
                jobs = invoke(
                    spec.capability,
                    self.adapters,
                    graph,
                    graph.get(tid),
                    params,
                    idempotency_key=key,
                )
            except CircuitOpen as exc:  # the adapter's own breaker: nothing was sent
                return _Outcome("deferred", [], str(exc), "deferred", attempt - 1)
            except AuthError as exc:
                # A clear answer from a healthy integration: never retried, operators alerted.
                self._auth_failed(change, category, spec.capability, tid, exc)
                return _Outcome("failed", [], f"not authorised: {exc}", "auth", attempt)
            except IdempotencyConflict as exc:
                why = f"idempotency key {key} was already used with other parameters: {exc}"
                return _Outcome("failed", [], f"{why}; nothing was executed", "conflict", attempt)
            except AmbiguousOutcome as exc:
                breaker.record_failure()
                why = f"no answer after the request was sent ({exc}); reading the estate back"
                return _Outcome("unknown", [], why, "ambiguous", attempt)
            except TransientError as exc:
                breaker.record_failure()
                if not spec.idempotent:
                    why = f"{exc}; not retried because {spec.kind} is not idempotent"
                    return _Outcome("failed", [], why, "error", attempt)
                if attempt >= self.retry.attempts:
                    why = f"gave up after {attempt} attempts: {exc}"
                    return _Outcome("failed", [], why, "error", attempt)
                self._pause(self._backoff(attempt, exc, change, tid, report), change.id, token)
                continue
            except (AdapterError, CapabilityError) as exc:
                return _Outcome("failed", [], str(exc), "error", attempt)
            breaker.record_success()
            sent = ", ".join(f"{j.job_id}:{j.state}" for j in jobs) or "applied"
            return _Outcome("submitted", jobs, sent, "sent", attempt)

    def _backoff(
        self,
        attempt: int,
        exc: TransientError,
        change: Change,
        tid: str,
        report: ExecutionReport,
    ) -> float:
        """Seconds to wait before the next attempt: capped Retry-After, else full jitter."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            wait = min(max(0.0, exc.retry_after), self.retry.max_retry_after)
            delay = {
                "integration": exc.integration,
                "call": exc.call,
                "target": tid,
                "retry_after": exc.retry_after,
                "waited": wait,
                "capped": wait < exc.retry_after,
            }
            report.delays.append(delay)
            # Audited at once so the requester can be told while the change is still waiting.
            with self.engine.begin() as conn:
                self._audit(
                    conn,
                    kind="integration.rate_limited",
                    actor=self.actor,
                    change_id=str(change.id),
                    plan_hash=change.plan_hash,
                    body=delay,
                )
            return wait
        ceiling = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def _pause(self, seconds: float, change_id: int, token: str) -> None:
        """Sleep in slices, renewing the lease so a long Retry-After does not lose the claim."""
        step = max(0.001, self.lease.total_seconds() / 3)
        left = seconds
        while left > 0:
            chunk = min(left, step)
            self.sleep(chunk)
            left -= chunk
            self.heartbeat(change_id, token)

    def _auth_failed(
        self, change: Change, category: str, capability: str, tid: str, exc: AuthError
    ) -> None:
        hold = self.retry.auth_hold
        self.auth_holds[category] = (f"authorisation failed: {exc}", self.monotonic() + hold)
        with self.engine.begin() as conn:
            self._audit(
                conn,
                kind="integration.auth_failed",
                actor=self.actor,
                change_id=str(change.id),
                plan_hash=change.plan_hash,
                body={
                    "integration": exc.integration or category,
                    "capability": capability,
                    "target": tid,
                    "detail": str(exc),
                    "held_seconds": hold,
                    "alert": "operators: check this integration's credentials and permissions",
                },
            )

    def _wait(self, jobs: list[Job], token: str, change_id: int) -> tuple[str, str]:
        if not jobs:
            return "done", "applied"
        deadline = self.now() + JOB_TIMEOUT
        rmm = self.adapters.rmm
        pending = list(jobs)
        while True:
            done = [j for j in pending if j.state in ("succeeded", "failed", "unknown")]
            if len(done) == len(pending):
                bad = [j for j in done if j.state != "succeeded"]
                if bad:
                    return (
                        "failed" if all(j.state == "failed" for j in bad) else "unknown",
                        "; ".join(f"{j.job_id} {j.state} {j.detail}".strip() for j in bad),
                    )
                return "done", "; ".join(f"{j.job_id} succeeded" for j in done)
            if self.now() > deadline or rmm is None:
                return "unknown", "jobs did not finish in time"
            self.sleep(self.poll_interval)
            self.heartbeat(change_id, token)
            try:
                pending = [
                    rmm.job_status(j.job_id) if j.state not in ("succeeded", "failed") else j
                    for j in pending
                ]
            except AdapterError as exc:
                return "unknown", f"job status unavailable: {exc}"
