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

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from adapters import CircuitBreaker, breaker_of
from adapters.contracts import CATEGORIES, Job
from agent.execution.calls import (
    CallOutcome,
    HoldPolicy,
    IntegrationGuard,
    category_of,
    job_verdict,
    jobs_ended,
)
from agent.execution.capabilities import Adapters, invoke
from agent.execution.change import Change
from agent.execution.checks import Checks, Recheck, Refusal
from agent.execution.endings import Endings
from agent.execution.jobs import refresh, statuses, wait
from agent.execution.journal import AuditFn, Journal
from agent.execution.leases import LEASE, Leases
from agent.execution.reconcile import Reconciler
from agent.execution.report import ExecutionReport, TargetResult
from agent.execution.targets import TargetBook
from twin.actions import ActionSpec, get_action
from twin.graph import TwinGraph
from twin.model import utcnow
from twin.plan import Plan
from twin.store import TwinStore

__all__ = [
    "LEASE",
    "STEPS",
    "ExecutionReport",
    "Executor",
    "TargetResult",
]

STEPS = (
    "claimed",
    "targets_ready",
    "target_calling",
    "call_returned",
    "call_recorded",
    "target_done",
    "before_reconcile",
)
"""Step boundaries where ``step_hook`` is called (crash tests kill the worker at each)."""
_ENDED = ("done", "failed", "unknown", "skipped", "rolled_back")
_CALLABLE = ("pending", "calling")
"""Target states from which a call may still be sent (so the checks run first)."""


def _first_open_wave(plan: Plan, rows: dict[str, Any]) -> int:
    """The first wave with a target still pending (where a resumed change would go on)."""
    for n, wave in enumerate(plan.waves):
        if any(rows[t].state == "pending" for t in wave if t in rows):
            return n
    return max(0, len(plan.waves) - 1)


class Executor:
    """Claims queued changes and carries them out through the adapters.

    Args:
        engine: The database holding the journal, the twin and the audit log.
        journal: Moves changes through the state machine (with their audit rows).
        store: The twin's store; observations flow back into it.
        graph: Returns the in-memory twin, caught up with the change log.
        adapters: The integrations to act through.
        audit: ``audit(conn, *, kind, actor, body, change_id, plan_hash)``.
        recheck: The host's check of consent, roles, freeze and break-glass, run with the others
            before every wave and call: a :class:`Refusal` (or a sentence) when the change must
            not go on.
        now: Wall clock (aware UTC) for leases, plan expiry and the call ledger.
        sleep: How to wait (backoff, job polling); injected in tests.
        poll_interval: Seconds between job status polls.
        worker_id: Names this worker in audit rows and leases.
        lease: How long a claim holds without a heartbeat.
        holds: How long an integration is held off (open circuit, auth failure).
        monotonic: Clock for holds.
        step_hook: Called with each step boundary name (:data:`STEPS`); crash tests use it.
        redact: Scrubs secrets from detail texts before they are stored.
    """

    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        store: TwinStore,
        graph: Callable[[], TwinGraph],
        adapters: Adapters,
        *,
        audit: AuditFn,
        recheck: Recheck = lambda c: None,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 0.2,
        worker_id: str = "worker",
        lease: timedelta = LEASE,
        holds: HoldPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        step_hook: Callable[[str], None] | None = None,
        redact: Callable[[str], str] = lambda text: text,
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
        self.monotonic = monotonic
        self.step_hook = step_hook
        self.redact = redact
        """Scrubs secrets from every detail text stored (journal, targets, call ledger)."""
        self.guard = IntegrationGuard(
            engine, audit, self.actor, holds=holds or HoldPolicy(), monotonic=monotonic
        )
        self.reconciler = Reconciler(self)
        self.targets = TargetBook(
            engine, audit, self.actor, now=now, redact=redact, installation=journal.installation
        )
        self.checks = Checks(engine, now=now, graph=graph, held=self.held, recheck=self.recheck)
        """Run before every wave and every call (:mod:`agent.execution.checks`)."""
        self.endings = Endings(engine, journal, self.targets, self.actor)
        self.leases = Leases(
            engine,
            journal,
            self.targets,
            audit,
            actor=self.actor,
            worker_id=worker_id,
            lease=lease,
            now=now,
            monotonic=monotonic,
        )

    @property
    def actor(self) -> str:
        """The audit actor of this worker."""
        return f"system:{self.worker_id}"

    def step(self, name: str) -> None:
        """Report reaching a step boundary to ``step_hook`` (see :data:`STEPS`)."""
        if self.step_hook is not None:
            self.step_hook(name)

    # ------------------------------------------------------------------ integration health
    def breakers(self) -> dict[str, CircuitBreaker]:
        """Each integration's circuit breaker (the client's own: the one retry layer's)."""
        found = {cat: breaker_of(getattr(self.adapters, cat)) for cat in CATEGORIES}
        return {cat: b for cat, b in found.items() if b is not None}

    def breaker(self, category: str) -> CircuitBreaker:
        """The circuit breaker of one integration's client.

        Raises:
            LookupError: That client sends through no breaker (a bare test double).
        """
        try:
            return self.breakers()[category]
        except KeyError:
            raise LookupError(f"the {category} client has no circuit breaker") from None

    def held(self) -> dict[str, str]:
        """Integrations whose work is held now, with the reason (open circuit or auth failure)."""
        return self.guard.held()

    # ------------------------------------------------------------------ claiming
    def claim(self, limit: int = 1) -> list[tuple[int, str]]:
        """Claim queued changes (and executing ones whose lease expired) with a lease token.

        Changes for an integration that is held (open circuit, auth failure) stay queued; see
        :meth:`agent.execution.leases.Leases.claim`.
        """
        return self.leases.claim(limit, self.held())

    def heartbeat(self, change_id: int, token: str, *, force: bool = True) -> None:
        """Extend the lease; raises :class:`IllegalTransition` if another worker took it over.

        With ``force=False`` the lease is renewed only once a third of it has passed.
        """
        self.leases.heartbeat(change_id, token, force=force)

    # ------------------------------------------------------------------ running
    def run(self, change_id: int, token: str) -> ExecutionReport:
        """Carry out one claimed change to a final or waiting state.

        :attr:`checks` run before the first call and again before every later call (so before
        every wave), on a new change and on one resumed after a restart or an outage alike.
        """
        change = self.journal.get(change_id)
        if change.plan is None:
            raise ValueError(f"{change.ref} is queued without a plan")
        plan = Plan.model_validate(change.plan)
        rows = self.targets.rows(change_id)
        untouched = all(r.state == "pending" for r in rows.values())
        acted = [t for t, r in rows.items() if r.state != "pending"]
        # Checked only while a call may still be sent: a change whose calls all went out is
        # read back and settled whatever holds now.
        to_call = not rows or any(r.state in _CALLABLE for r in rows.values())
        problem = self.checks.before(change, plan, acted=acted) if to_call else None
        if problem is not None:
            if problem.defers:
                return self.endings.release(change, token, problem.reason)
            if untouched:
                return self.endings.refuse(change, token, problem)
        spec = get_action(plan.action)
        if len(rows) < sum(len(w) for w in plan.waves):
            with self.engine.begin() as conn:
                self.targets.insert(conn, change_id, plan.waves)
        self.step("targets_ready")
        report = ExecutionReport(change_id, "executing")
        if problem is not None:
            return self._stop(change, plan, token, report, problem, _first_open_wave(plan, rows))
        fresh = True  # the checks just passed; the next call needs no second look
        for wave_no, wave in enumerate(plan.waves):
            self.heartbeat(change_id, token, force=False)
            failures = 0
            for tid in wave:
                row = self.targets.rows(change_id)[tid]
                if row.state in _CALLABLE and not fresh:
                    acted = [
                        t for t, r in self.targets.rows(change_id).items() if r.state != "pending"
                    ]
                    if (problem := self.checks.before(change, plan, acted=acted)) is not None:
                        if problem.defers:
                            return self.endings.release(change, token, problem.reason)
                        return self._stop(change, plan, token, report, problem, wave_no)
                res = self._run_target(change, plan, spec, tid, row, token, report)
                if res is None:  # nothing was sent: the integration's circuit is open
                    return self.endings.release(change, token, f"{category_of(spec)} circuit open")
                fresh = fresh and row.state not in _CALLABLE
                report.targets.append(res)
                failures += res.state in ("failed", "unknown")
            rate = failures / max(1, len(wave))
            if failures and (rate > plan.halt_threshold or (wave_no == 0 and len(plan.waves) > 1)):
                report.halted_at_wave = wave_no
                self.endings.skip_rest(
                    change_id, plan, token, report, wave_no + 1, f"halted after wave {wave_no}"
                )
                break
        self.step("before_reconcile")
        return self.reconciler.finish(change, plan, token, report)

    def _stop(
        self,
        change: Change,
        plan: Plan,
        token: str,
        report: ExecutionReport,
        problem: Refusal,
        wave_no: int,
    ) -> ExecutionReport:
        """A check failed after calls went out: send nothing more, read back, tell people."""
        why = f"stopped before wave {wave_no + 1} of {len(plan.waves)}: {problem.reason}"
        spec = get_action(plan.action)
        for tid, row in self.targets.rows(change.id).items():
            if row.state == "submitted":  # sent before: follow its jobs to their end
                report.targets.append(self._follow(change, tid, row, token))
            elif row.state == "calling":  # may have left before a restart: never re-sent now
                detail = f"outcome unknown after a restart; not sent again ({why})"
                report.targets.append(self.endings.unknown(change, spec, tid, row, token, detail))
        self.endings.skip_rest(change.id, plan, token, report, 0, why, short="stopped")
        report.halted_at_wave = wave_no
        report.refusal = problem
        self.step("before_reconcile")
        return self.reconciler.finish(change, plan, token, report)

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
            return self.endings.unknown(change, spec, tid, row, token, detail)
        if row.state in ("pending", "calling"):
            # A repeatable call interrupted by a crash is simply sent again with the same key.
            ledger = {"idempotency_key": key, "capability": spec.capability}
            if row.state == "calling":
                self._finish_call(change, tid, token, ledger, "interrupted", "worker restarted")
            self.targets.set(change.id, tid, token, state="calling", call={**ledger, "start": 1})
            self.step("target_calling")
            out = self._invoke(change, spec, tid, plan.params, key, token, report)
            self.step("call_returned")
            if out.state == "deferred":
                self.targets.set(
                    change.id,
                    tid,
                    token,
                    state="pending",
                    detail=out.detail,
                    call={**ledger, "outcome": "not_sent", "detail": out.detail},
                )
                return None
            state, detail, jobs = out.state, out.detail, out.jobs
            if state == "submitted":
                # Jobs that already ended are recorded as ended with the call: one commit less.
                jobs = refresh(self.adapters.rmm, jobs)
                if jobs_ended(jobs):
                    state, detail = job_verdict(jobs)
            self.targets.set(
                change.id,
                tid,
                token,
                state=state,
                detail=detail if state != "submitted" else "",
                job_id=",".join(j.job_id for j in out.jobs),
                call={
                    **ledger,
                    "outcome": out.kind,
                    "attempts": out.attempts,
                    "detail": out.detail,
                    "plan_hash": change.plan_hash,
                },
            )
            self.step("call_recorded")
            if state != "submitted":
                return TargetResult(tid, row.wave, state, detail)
        else:  # submitted before a restart: follow the recorded jobs
            return self._follow(change, tid, row, token)
        return self._done(change, tid, row, token, jobs)

    def _follow(self, change: Change, tid: str, row: Any, token: str) -> TargetResult:
        """Follow the jobs a target submitted before a restart to their end."""
        return self._done(change, tid, row, token, statuses(self.adapters, tid, row.job_id))

    def _done(
        self, change: Change, tid: str, row: Any, token: str, jobs: list[Job]
    ) -> TargetResult:
        state, detail = self.wait_jobs(jobs, token, change.id)
        self.targets.set(change.id, tid, token, state=state, detail=detail)
        self.step("target_done")
        return TargetResult(tid, row.wave, state, detail)

    def _finish_call(
        self, change: Change, tid: str, token: str, ledger: dict[str, Any], outcome: str, why: str
    ) -> None:
        self.targets.set(change.id, tid, token, call={**ledger, "outcome": outcome, "detail": why})

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
    ) -> CallOutcome:
        graph = self.graph()

        def send() -> list[Job]:
            return invoke(
                spec.capability, self.adapters, graph, graph.get(tid), params, idempotency_key=key
            )

        return self.guard.call(
            send,
            spec=spec,
            key=key,
            where={"change_id": change.id, "plan_hash": change.plan_hash, "target": tid},
            pause=lambda seconds: self._pause(seconds, change.id, token),
            delays=report.delays,
        )

    def _pause(self, seconds: float, change_id: int, token: str) -> None:
        """Sleep in slices, renewing the lease so a long Retry-After does not lose the claim."""
        step = max(0.001, self.lease.total_seconds() / 3)
        left = seconds
        while left > 0:
            chunk = min(left, step)
            self.sleep(chunk)
            left -= chunk
            self.heartbeat(change_id, token)

    def wait_jobs(self, jobs: list[Job], token: str, change_id: int) -> tuple[str, str]:
        """Poll the jobs to their end, renewing the lease (see :func:`jobs.wait`)."""
        return wait(
            self.adapters.rmm,
            jobs,
            now=self.now,
            sleep=self.sleep,
            poll_interval=self.poll_interval,
            beat=lambda: self.heartbeat(change_id, token, force=False),
        )
