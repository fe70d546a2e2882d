"""The executor: runs queued changes wave by wave, exactly as planned, then reconciles.

Crash safety: a target is marked ``calling`` (committed) before its adapter call, and ``submitted``
with the job id after. A worker that finds a ``calling`` target after a crash does not call again
blindly: it reads the state back through the adapter (reconciliation) and resolves or escalates.
Every adapter call carries the idempotency key ``CR-<id>:<target>``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from adapters.contracts import Job
from adapters.errors import AdapterError, AmbiguousOutcome, AuthError
from agent.capabilities import Adapters, CapabilityError, Observation, invoke, observe
from agent.journal import Change, IllegalTransition, Journal, journal_table, target_table
from twin.actions import get_action
from twin.graph import TwinGraph
from twin.model import utcnow
from twin.plan import Plan, stale_entities
from twin.store import TwinStore

__all__ = ["ExecutionReport", "Executor", "TargetResult"]

LEASE = timedelta(seconds=60)
JOB_TIMEOUT = timedelta(minutes=30)


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

    # ------------------------------------------------------------------ claiming
    def claim(self, limit: int = 1) -> list[tuple[int, str]]:
        """Claim queued changes (and executing ones whose lease expired) with a lease token.

        On PostgreSQL the select takes row locks with ``FOR UPDATE SKIP LOCKED`` so concurrent
        workers never claim the same row; on SQLite the write transaction is exclusive.
        """
        now = self.now()
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
            for row in conn.execute(q).all():
                token = secrets.token_hex(8)
                if row.state == "queued":
                    self.journal.move(
                        row.id,
                        "executing",
                        actor=f"system:{self.worker_id}",
                        conn=conn,
                        body={"worker": self.worker_id},
                        new_lease=token,
                        lease_until=now + LEASE,
                    )
                else:
                    conn.execute(
                        update(journal_table)
                        .where(journal_table.c.id == row.id)
                        .values(lease_token=token, lease_until=now + LEASE)
                    )
                    self._audit(
                        conn,
                        kind="change.lease_taken_over",
                        actor=f"system:{self.worker_id}",
                        change_id=str(row.id),
                        plan_hash=None,
                        body={"worker": self.worker_id},
                    )
                out.append((int(row.id), token))
        return out

    def heartbeat(self, change_id: int, token: str) -> None:
        """Extend the lease; raises if another worker took it over."""
        with self.engine.begin() as conn:
            res = conn.execute(
                update(journal_table)
                .where(journal_table.c.id == change_id, journal_table.c.lease_token == token)
                .values(lease_until=self.now() + LEASE)
            )
            if res.rowcount != 1:
                raise IllegalTransition(f"CR-{change_id}: lease lost")

    def work_once(self, limit: int = 10) -> list[ExecutionReport]:
        """Claim and run up to ``limit`` changes."""
        return [self.run(cid, token) for cid, token in self.claim(limit)]

    # ------------------------------------------------------------------ running
    def _targets(self, change_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return {
                r.target: r
                for r in conn.execute(
                    select(target_table).where(target_table.c.change_id == change_id)
                )
            }

    def _set_target(self, change_id: int, target: str, token: str, **values: Any) -> None:
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
            if "state" in values:
                self._audit(
                    conn,
                    kind="change.target",
                    actor=f"system:{self.worker_id}",
                    change_id=str(change_id),
                    plan_hash=None,
                    body={
                        "target": target,
                        **{k: v for k, v in values.items() if k in ("state", "job_id", "detail")},
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

    def run(self, change_id: int, token: str) -> ExecutionReport:
        """Carry out one claimed change to a final or waiting state."""
        change = self.journal.get(change_id)
        assert change.plan is not None, "a queued change always has a plan"
        plan = Plan.model_validate(change.plan)
        actor = f"system:{self.worker_id}"
        graph = self.graph()
        # Last checks before touching anything: plan hash intact, not expired, nothing drifted,
        # approvers still entitled.
        problem = None
        if plan.compute_hash() != plan.hash or plan.hash != change.plan_hash:
            problem = "the plan's content no longer matches its hash"
        elif plan.expires_at < self.now():
            problem = "the plan expired before it ran"
        elif drift := stale_entities(plan, graph):
            problem = f"the twin changed since rehearsal: {', '.join(sorted(drift)[:5])}"
        else:
            problem = self.recheck(change)
        if problem is not None and not self._targets(change_id):
            self.journal.move(
                change_id,
                "failed",
                actor=actor,
                lease_token=token,
                body={"reason": problem, "executed": 0},
                result={"message": problem, "stale": True},
            )
            self.journal.move(
                change_id,
                "escalated",
                actor=actor,
                body={"reason": f"refused before execution: {problem}"},
            )
            return ExecutionReport(change_id, "escalated", message=problem)
        spec = get_action(plan.action)
        self._ensure_targets(change, plan)
        started = self.now()
        report = ExecutionReport(change_id, "executing")
        for wave_no, wave in enumerate(plan.waves):
            self.heartbeat(change_id, token)
            failures = 0
            for tid in wave:
                row = self._targets(change_id)[tid]
                res = self._run_target(change, plan, spec.capability, tid, row, token, started)
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
        return self._finish(change, plan, token, report, started)

    def _run_target(
        self,
        change: Change,
        plan: Plan,
        capability: str,
        tid: str,
        row: Any,
        token: str,
        started: datetime,
    ) -> TargetResult:
        graph = self.graph()
        if row.state in ("done", "failed", "unknown", "skipped"):
            return TargetResult(tid, row.wave, row.state, row.detail)
        if row.state == "calling":
            # We crashed between marking the call and recording its outcome: never call again
            # blindly, read the estate back instead (reconciliation decides).
            self._set_target(
                change.id,
                tid,
                token,
                state="unknown",
                detail="outcome unknown after restart; reading back",
            )
            return TargetResult(tid, row.wave, "unknown", "read back after restart")
        jobs: list[Job] = []
        if row.state == "pending":
            self._set_target(change.id, tid, token, state="calling")
            try:
                jobs = invoke(
                    capability,
                    self.adapters,
                    graph,
                    graph.get(tid),
                    plan.params,
                    idempotency_key=row.idempotency_key,
                )
            except AmbiguousOutcome as exc:
                self._call_audit(change, tid, capability, "ambiguous", str(exc))
                self._set_target(change.id, tid, token, state="unknown", detail=str(exc))
                return TargetResult(tid, row.wave, "unknown", str(exc))
            except (AdapterError, CapabilityError) as exc:
                kind = "auth" if isinstance(exc, AuthError) else "error"
                self._call_audit(change, tid, capability, kind, str(exc))
                self._set_target(change.id, tid, token, state="failed", detail=str(exc))
                return TargetResult(tid, row.wave, "failed", str(exc))
            self._call_audit(
                change,
                tid,
                capability,
                "sent",
                ", ".join(f"{j.job_id}:{j.state}" for j in jobs) or "done",
            )
            self._set_target(
                change.id, tid, token, state="submitted", job_id=",".join(j.job_id for j in jobs)
            )
        else:  # submitted before a restart: follow the recorded jobs
            rmm = self.adapters.need("rmm")
            jobs = [rmm.job_status(j) for j in (row.job_id or "").split(",") if j]
        state, detail = self._wait(jobs, token, change.id)
        self._set_target(change.id, tid, token, state=state, detail=detail)
        return TargetResult(tid, row.wave, state, detail)

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

    def _call_audit(
        self, change: Change, target: str, capability: str, outcome: str, detail: str
    ) -> None:
        with self.engine.begin() as conn:
            self._audit(
                conn,
                kind="integration.call",
                actor=f"system:{self.worker_id}",
                change_id=str(change.id),
                plan_hash=change.plan_hash,
                body={
                    "capability": capability,
                    "target": target,
                    "outcome": outcome,
                    "detail": detail,
                    "idempotency_key": f"{change.ref}:{target}",
                },
            )

    # ------------------------------------------------------------------ reconcile
    def _finish(
        self, change: Change, plan: Plan, token: str, report: ExecutionReport, started: datetime
    ) -> ExecutionReport:
        actor = f"system:{self.worker_id}"
        rows = self._targets(change.id)
        graph = self.graph()
        observations: list[Observation] = []
        for exp in plan.expected:
            trow = rows.get(exp["target"])
            if trow is None and exp.get("params", {}).get("host"):
                trow = rows.get(exp["params"]["host"])
            if trow is not None and trow.state in ("failed", "skipped"):
                continue
            try:
                observations.append(observe(exp, self.adapters, graph, started_at=started))
            except (AdapterError, CapabilityError) as exc:
                observations.append(
                    Observation(exp["target"], exp["check"], False, f"could not observe: {exc}", {})
                )
        report.observations = observations
        per_target = {t: r.state for t, r in rows.items()}
        failed = [t for t, s in per_target.items() if s in ("failed", "skipped")]
        unknown = [t for t, s in per_target.items() if s == "unknown"]
        mismatched = [o for o in observations if not o.ok]
        summary = {
            "targets": {
                t: {"state": r.state, "detail": r.detail, "wave": r.wave} for t, r in rows.items()
            },
            "observations": [o.__dict__ for o in observations],
            "halted_at_wave": report.halted_at_wave,
        }
        self._learn(change, observations)
        if unknown and not failed:
            self.journal.move(
                change.id,
                "unknown",
                actor=actor,
                lease_token=token,
                body={"unknown": unknown},
                result=summary,
            )
            if not mismatched:
                self.journal.move(
                    change.id, "verified", actor=actor, body={"read_back": "matches the plan"}
                )
                final = self.journal.move(
                    change.id, "reconciled", actor=actor, body={"observations": len(observations)}
                )
            else:
                final = self.journal.move(
                    change.id,
                    "escalated",
                    actor=actor,
                    body={
                        "reason": "outcome unknown and read-back does not match the plan",
                        "mismatch": [o.detail for o in mismatched],
                    },
                )
        elif failed or unknown or mismatched:
            why = (
                f"{len(failed)} target(s) failed"
                if failed
                else f"{len(mismatched)} observation(s) do not match the plan"
            )
            self.journal.move(
                change.id,
                "failed",
                actor=actor,
                lease_token=token,
                body={"reason": why, "failed": failed},
                result=summary,
            )
            final = self._rollback(change, plan, rows, why)
        else:
            self.journal.move(
                change.id,
                "succeeded",
                actor=actor,
                lease_token=token,
                body={"targets": len(rows)},
                result=summary,
            )
            final = self.journal.move(
                change.id,
                "reconciled",
                actor=actor,
                body={"observations": len(observations), "all_match": True},
            )
        report.final_state = final.state
        report.message = (final.result or {}).get("message", "") if final.result else ""
        return report

    def _rollback(self, change: Change, plan: Plan, rows: dict[str, Any], why: str) -> Change:
        actor = f"system:{self.worker_id}"
        done = [t for t, r in rows.items() if r.state == "done"]
        steps = [r for r in plan.rollback if r["target"] in done and r.get("action")]
        if not steps:
            notes = sorted({r.get("note", "") for r in plan.rollback} - {""})
            return self.journal.move(
                change.id,
                "escalated",
                actor=actor,
                body={"reason": why, "rollback": "none possible", "notes": notes},
            )
        results = []
        for step in steps:
            spec = get_action(step["action"])
            try:
                invoke(
                    spec.capability,
                    self.adapters,
                    self.graph(),
                    self.graph().get(step["target"]),
                    step.get("params", {}),
                    idempotency_key=f"{change.ref}:rollback:{step['target']}",
                )
                results.append({"target": step["target"], "ok": True})
            except (AdapterError, CapabilityError) as exc:
                results.append({"target": step["target"], "ok": False, "error": str(exc)})
        if all(r["ok"] for r in results):
            return self.journal.move(
                change.id, "rolled_back", actor=actor, body={"reason": why, "rollback": results}
            )
        return self.journal.move(
            change.id, "escalated", actor=actor, body={"reason": why, "rollback": results}
        )

    def _learn(self, change: Change, observations: list[Observation]) -> None:
        """Feed what was observed back into the twin, with provenance naming the change."""
        graph = self.graph()
        for o in observations:
            if not o.facts or o.target not in graph:
                continue
            facts = dict(o.facts)
            if o.check == "patches_installed":
                installed = set(facts.pop("installed", []))
                for t, s in graph.in_edges(o.target):
                    pe = graph.get(s)
                    if t.value == "pending_on" and pe.attrs.get("patch_id") in installed:
                        self.store.set_attrs(
                            pe.id,
                            {"status": "installed"},
                            actor=f"change:{change.ref}",
                            reason=f"observed after {change.ref}",
                            source="rmm",
                        )
            if facts:
                self.store.set_attrs(
                    o.target,
                    facts,
                    actor=f"change:{change.ref}",
                    reason=f"observed after {change.ref}",
                )
