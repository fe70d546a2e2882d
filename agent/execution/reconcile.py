"""Reconciliation: after a change ran, read the estate back and decide how the change ends.

The executor hands over a change whose targets have all ended (``done``, ``failed``,
``unknown``, ``skipped``). Reconciliation observes each expectation of the plan through the
adapters, feeds what it saw into the twin (provenance names the change), then moves the journal:

- everything done and observed as planned -> ``succeeded`` -> ``reconciled``;
- outcome unknown for some target (a crash or a timeout after send), nothing failed ->
  ``unknown`` -> ``verified`` -> ``reconciled`` when the read-back matches, else ``escalated``;
- the rollout halted (failure rate above the plan's threshold) or an observation does not match
  -> ``failed`` -> roll back what the plan says -> ``rolled_back`` (or ``escalated`` when nothing
  can be rolled back or the rollback itself failed);
- some targets failed below the halt threshold -> ``failed`` -> ``escalated`` (the others kept).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, func, select

from adapters.contracts import Job
from adapters.errors import AdapterError
from agent.execution.capabilities import Adapters, invoke
from agent.execution.change import Change
from agent.execution.journal import Journal
from agent.execution.observe import Observation, observe
from agent.execution.report import ExecutionReport
from agent.execution.source_ids import CapabilityError
from agent.execution.targets import TargetBook, call_table
from twin.actions import CATALOG
from twin.graph import TwinGraph
from twin.plan import Plan
from twin.store import TwinStore

__all__ = ["ReconcileHost", "Reconciler", "undo"]


class ReconcileHost(Protocol):
    """What reconciliation needs of the executor that hands a change over.

    A protocol, so this module does not import the executor: rollback calls go through the
    host's adapters (the clients' one retry layer) and its job wait, like every other call.
    """

    engine: Engine
    journal: Journal
    store: TwinStore
    adapters: Adapters
    targets: TargetBook
    graph: Callable[[], TwinGraph]
    now: Callable[[], datetime]

    @property
    def actor(self) -> str:
        """The audit actor of the worker."""
        ...

    def wait_jobs(self, jobs: list[Job], token: str, change_id: int) -> tuple[str, str]:
        """Poll jobs to their end while keeping the change's lease."""
        ...


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def undo(
    step: dict[str, Any],
    executor: ReconcileHost,
    graph: TwinGraph,
    *,
    key: str,
    patch_ids: list[str],
) -> list[Job]:
    """Carry out one rollback step of a plan through the adapters.

    Rollback steps name a catalog action, or one of the undo operations the catalog refers to
    (``identity.enable``, ``script.run`` with ``uninstall-patches``).

    Raises:
        CapabilityError: the step names something opshand cannot carry out.
        AdapterError: the integration refused or failed.
    """
    action = str(step.get("action"))
    target = graph.get(step["target"])
    params = dict(step.get("params") or {})
    adapters = executor.adapters
    if action in CATALOG:
        return invoke(
            CATALOG[action].capability, adapters, graph, target, params, idempotency_key=key
        )
    if action == "identity.enable":
        uid = str(target.attrs.get("user_id") or target.source_ref or target.name)
        adapters.need("identity").enable_user(uid, idempotency_key=key)
        return []
    if action == "script.run" and params.get("script_id") in (
        "uninstall-patches",
        "uninstall-patch",
    ):
        device = str(target.attrs.get("device_id") or target.source_ref)
        ids = list(params.get("patch_ids") or patch_ids)
        if not ids:
            raise CapabilityError(f"no patch ids to uninstall on {target.name}")
        rmm = adapters.need("rmm")
        return [
            rmm.run_script(device, "uninstall-patch", {"patch_id": p}, idempotency_key=f"{key}:{p}")
            for p in sorted(ids)
        ]
    raise CapabilityError(f"rollback action '{action}' is not implemented")


class Reconciler:
    """Observes, learns and moves the journal to the change's final state."""

    def __init__(self, executor: ReconcileHost) -> None:
        self.ex = executor

    def _started(self, change_id: int) -> dict[str, datetime]:
        """When the first call to each target may have reached the estate."""
        q = (
            select(call_table.c.target, func.min(call_table.c.started_at))
            .where(call_table.c.change_id == change_id)
            .group_by(call_table.c.target)
        )
        with self.ex.engine.connect() as conn:
            return {str(t): _aware(at) for t, at in conn.execute(q)}

    def observe_all(
        self, plan: Plan, rows: dict[str, Any], first_call: dict[str, datetime], now: datetime
    ) -> list[Observation]:
        """Read back every expectation whose target may have changed.

        ``first_call`` maps targets to the time their first call may have reached the estate:
        "rebooted" means booted after that, even when the read-back happens after a restart.
        """
        graph = self.ex.graph()
        out: list[Observation] = []
        for exp in plan.expected:
            owner = exp["target"] if exp["target"] in rows else exp.get("params", {}).get("host")
            trow = rows.get(owner) if owner else None
            if trow is not None and trow.state in ("failed", "skipped", "pending"):
                continue
            since = first_call.get(owner or "", now)
            try:
                out.append(observe(exp, self.ex.adapters, graph, started_at=since))
            except (AdapterError, CapabilityError) as exc:
                out.append(
                    Observation(exp["target"], exp["check"], False, f"could not observe: {exc}", {})
                )
        return out

    def finish(
        self, change: Change, plan: Plan, token: str, report: ExecutionReport
    ) -> ExecutionReport:
        """Observe, learn, and move the change to its final state."""
        ex = self.ex
        actor = ex.actor
        rows = ex.targets.rows(change.id)
        observations = self.observe_all(plan, rows, self._started(change.id), ex.now())
        report.observations = observations
        per_target = {t: r.state for t, r in rows.items()}
        failed = sorted(t for t, s in per_target.items() if s == "failed")
        skipped = sorted(t for t, s in per_target.items() if s == "skipped")
        unknown = sorted(t for t, s in per_target.items() if s == "unknown")
        mismatched = [o for o in observations if not o.ok]
        summary: dict[str, Any] = {
            "targets": {
                t: {"state": r.state, "detail": r.detail, "wave": r.wave} for t, r in rows.items()
            },
            "observations": [o.__dict__ for o in observations],
            "halted_at_wave": report.halted_at_wave,
            "delays": report.delays,
        }
        seen = {"observed": [f"{o.target} {o.check}: {o.detail}" for o in observations]}
        self.learn(change, observations)
        waited = _delay_note(report.delays)
        halted = report.halted_at_wave is not None and bool(failed)
        if report.refusal is not None:
            # A check failed after calls went out (B10): nothing more was sent and nothing is
            # undone; what ran and what did not goes to people.
            wave = (report.halted_at_wave or 0) + 1
            why = (
                f"stopped before wave {wave} of {len(plan.waves)}: {report.refusal.reason}; "
                f"{sum(1 for s in per_target.values() if s == 'done')} of {len(rows)} target(s) "
                f"done, {len(skipped)} not run"
                + (f", {len(unknown)} unknown" if unknown else "")
                + (f", {len(failed)} failed" if failed else "")
            )
            summary["message"] = why + waited
            summary["refusal"] = {**report.refusal.as_dict(), "before_any_call": False}
            body = {"reason": why, "check": report.refusal.check, **seen}
            final = self._settle(
                change, token, summary, [("failed", body), ("escalated", {"reason": why})]
            )
        elif halted or (mismatched and not unknown and not failed):
            why = (
                f"halted in wave {report.halted_at_wave}: {len(failed) + len(unknown)} of "
                f"{len(rows)} target(s) failed or unknown, {len(skipped)} skipped"
                if halted
                else f"{len(mismatched)} observation(s) do not match the plan"
            )
            summary["message"] = why + waited
            ex.journal.move(
                change.id,
                "failed",
                actor=actor,
                lease_token=token,
                body={"reason": why, "failed": failed, **seen},
                result=summary,
            )
            final = self.rollback(change, plan, rows, why, token)
        else:
            final = self._settle(
                change,
                token,
                summary,
                self._path(
                    summary, rows, observations, failed, unknown, skipped, mismatched, seen, waited
                ),
            )
        report.final_state = final.state
        report.message = summary["message"]
        return report

    @staticmethod
    def _path(
        summary: dict[str, Any],
        rows: dict[str, Any],
        observations: list[Observation],
        failed: list[str],
        unknown: list[str],
        skipped: list[str],
        mismatched: list[Observation],
        seen: dict[str, Any],
        waited: str,
    ) -> list[tuple[str, dict[str, Any]]]:
        """The journal moves that end a change needing no rollback."""
        if unknown and not failed:
            # Unknown outcomes halt later waves too; those skipped targets need a person.
            ok = not mismatched and not skipped
            summary["message"] = (
                "outcome was unknown; the read-back matches the plan"
                if ok
                else "outcome unknown and the read-back does not match the plan: "
                + "; ".join([o.detail for o in mismatched] + [f"{t} skipped" for t in skipped])
            ) + waited
            first = ("unknown", {"unknown": unknown, **seen})
            if ok:
                return [
                    first,
                    ("verified", {"read_back": "matches the plan"}),
                    ("reconciled", {"observations": len(observations)}),
                ]
            return [first, ("escalated", {"reason": summary["message"]})]
        if failed or unknown or mismatched:
            why = (
                f"{len(failed) + len(unknown)} of {len(rows)} target(s) failed, below the halt "
                "threshold; the others were kept"
            )
            summary["message"] = why + waited
            return [
                ("failed", {"reason": why, "failed": failed, "unknown": unknown, **seen}),
                ("escalated", {"reason": why, "failed": failed}),
            ]
        summary["message"] = f"{len(rows)} target(s) done and observed as planned" + waited
        return [
            ("succeeded", {"targets": len(rows), **seen}),
            ("reconciled", {"observations": len(observations), "all_match": True}),
        ]

    def _settle(
        self,
        change: Change,
        token: str,
        summary: dict[str, Any],
        moves: list[tuple[str, dict[str, Any]]],
    ) -> Change:
        """Apply the moves in one transaction; the first checks the lease and stores the result."""
        ex = self.ex
        with ex.engine.begin() as conn:
            (to, body), *rest = moves
            final = ex.journal.move(
                change.id,
                to,
                actor=ex.actor,
                conn=conn,
                lease_token=token,
                body=body,
                result=summary,
            )
            for to, body in rest:
                final = ex.journal.move(change.id, to, actor=ex.actor, conn=conn, body=body)
        return final

    def rollback(
        self, change: Change, plan: Plan, rows: dict[str, Any], why: str, token: str
    ) -> Change:
        """Undo what the plan says for every target that was done; escalate what cannot be."""
        ex = self.ex
        actor = ex.actor
        done = {t for t, r in rows.items() if r.state == "done"}
        steps = [r for r in plan.rollback if r["target"] in done and r.get("action")]
        if not steps:
            notes = sorted({r.get("note", "") for r in plan.rollback} - {""})
            return ex.journal.move(
                change.id,
                "escalated",
                actor=actor,
                body={"reason": why, "rollback": "none possible", "notes": notes},
            )
        patches = {
            e["target"]: list(e.get("params", {}).get("patch_ids") or [])
            for e in plan.expected
            if e["check"] == "patches_installed"
        }
        graph = ex.graph()
        results = []
        for step in steps:
            tid = step["target"]
            key = f"{change.ref}:rollback:{tid}"
            ledger = {"idempotency_key": key, "capability": f"rollback:{step['action']}"}
            ex.targets.set(change.id, tid, token, call={**ledger, "start": 1})
            try:
                jobs = undo(step, ex, graph, key=key, patch_ids=patches.get(tid, []))
                state, detail = ex.wait_jobs(jobs, token, change.id)
                ok = state == "done"
            except (AdapterError, CapabilityError) as exc:
                ok, detail = False, str(exc)
            results.append({"target": tid, "ok": ok, "detail": detail})
            ex.targets.set(
                change.id,
                tid,
                token,
                state="rolled_back" if ok else "done",
                detail=f"rolled back: {detail}" if ok else f"rollback failed: {detail}",
                call={
                    **ledger,
                    "outcome": "sent" if ok else "error",
                    "detail": detail,
                    "plan_hash": change.plan_hash,
                },
            )
        to = "rolled_back" if all(r["ok"] for r in results) else "escalated"
        return ex.journal.move(
            change.id, to, actor=actor, body={"reason": why, "rollback": results}
        )

    def learn(self, change: Change, observations: list[Observation]) -> None:
        """Feed what was observed back into the twin, with provenance naming the change."""
        graph = self.ex.graph()
        store = self.ex.store
        for o in observations:
            if not o.facts or o.target not in graph:
                continue
            facts = dict(o.facts)
            if o.check == "patches_installed":
                installed = set(facts.pop("installed", []))
                for t, s in graph.in_edges(o.target):
                    pe = graph.get(s)
                    if t.value == "pending_on" and pe.attrs.get("patch_id") in installed:
                        store.set_attrs(
                            pe.id,
                            {"status": "installed"},
                            actor=f"change:{change.ref}",
                            reason=f"observed after {change.ref}",
                            source="rmm",
                        )
            current = graph.get(o.target).attrs
            facts = {k: v for k, v in facts.items() if current.get(k) != v}
            if facts:
                store.set_attrs(
                    o.target,
                    facts,
                    actor=f"change:{change.ref}",
                    reason=f"observed after {change.ref}",
                )


def _delay_note(delays: list[dict[str, Any]]) -> str:
    if not delays:
        return ""
    total = sum(float(d["waited"]) for d in delays)
    who = sorted({str(d["integration"]) for d in delays})
    return f" (waited {total:.0f}s for rate limits of {', '.join(who)})"
