"""The staged patch cycle: asynchronous jobs, per-window scheduling, halting on evidence.

:class:`StagedCycle` runs one :class:`~agent.patching.stages.ClientPlan` per client. Each client
starts when its window opens; clients whose windows overlap run at once and share one in-flight
limit and one RMM request budget. Jobs are submitted and tracked in flight, and polled per client
every ``poll_seconds`` (only those that could have finished). Before a stage, and before each
host starts, the window must have the host's p95 job time plus the soak plus a rollback left;
what does not fit is deferred to the next opening with the reason.

The cycle is the unit of autonomy: rehearsal and the operator's policy look at every host once,
when the client's plan starts, and the plan needs at most one approval (a card with the counts,
stages, a sample of hosts and the production exceptions). The cycle then carries its own failure
budget instead of the hourly cap on auto actions. After each stage's soak the health of every
patched host is read: a service the stage broke quarantines the patch (rejected in the RMM,
uninstalled where it went in) before the next stage, and failures above the background rate
halt the cycle. Everything runs on an injected clock, so the sim's ``ManualClock`` plays hours
of real job time in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.contracts import Device, PsaContract, RmmContract
from adapters.errors import AdapterError
from agent.patching.cycle import FINISHED_KIND
from agent.patching.cycle_calls import CycleCalls
from agent.patching.decide import approve_plan
from agent.patching.fit import deferral, fits, p95_seconds
from agent.patching.flight import (
    ClientRun,
    CycleClock,
    InFlight,
    RequestBudget,
    StagedSettings,
    broken_services,
    over_background,
    suspect_patches,
)
from agent.patching.report import CycleEvent, CycleReport, HostOutcome, HostResult
from agent.patching.stages import ClientPlan, StagedHost
from agent.service import Operations

__all__ = ["JOB_KIND", "STAGE_KIND", "StagedCycle"]

STAGE_KIND = "patch_cycle.stage"
"""Audit kind of the summary row written after each stage (its counts and a tally of calls)."""
JOB_KIND = "patch_cycle.job"
"""Audit kind of the row written when a submitted job ends (its host, job id, key and state)."""


class StagedCycle:
    """Runs staged client plans on one clock, sharing the in-flight limit and the RMM budget."""

    def __init__(
        self,
        ops: Operations,
        *,
        rmm: RmmContract,
        clock: CycleClock,
        psa: PsaContract | None = None,
        settings: StagedSettings | None = None,
        approve: Callable[[dict[str, Any]], bool] | None = None,
        progress: Callable[[CycleEvent], None] | None = None,
        cycle_id: str = "",
    ) -> None:
        self.ops, self.clock = ops, clock
        self.settings = settings or StagedSettings()
        self.approve = approve
        """Shown a plan's card when policy wants consent for any host; ``None``: nobody answers,
        so those hosts wait (unknown is not safe)."""
        self.progress = progress
        self.cycle_id = cycle_id or clock.now().strftime("pc-%Y%m%dT%H%M")
        self.budget = RequestBudget(self.settings.rmm_per_minute, clock)
        self.calls = CycleCalls(ops, rmm=rmm, psa=psa, clock=clock, budget=self.budget,
                                requester=self.settings.requester)  # fmt: skip
        self.in_flight = 0
        self.peak_in_flight = 0
        self.durations: list[float] = []
        self.runs: dict[str, ClientRun] = {}
        self.quarantine: dict[str, set[str] | None] = {}
        """Patch -> the services/clusters whose hosts it is kept off (``None``: every host)."""

    # ------------------------------------------------------------------ scheduling
    def run(self, plans: dict[str, ClientPlan]) -> dict[str, CycleReport]:
        """Run every client's plan from its window's opening to its end; returns the reports."""
        for slug, plan in plans.items():
            cid = f"{self.cycle_id}-{slug}"
            report = CycleReport(cycle_id=cid, planned=len(plan.hosts))
            self.runs[slug] = ClientRun(plan, report, cid, next_tick=plan.opens_at)
        while True:
            active = [r for r in self.runs.values() if r.phase != "done"]
            if not active:
                break
            now = self.clock.now()
            for r in active:
                if r.next_tick is not None and r.next_tick <= now:
                    self._tick(r, now)
            waits = [r.next_tick for r in self.runs.values() if r.phase != "done" and r.next_tick]
            if waits:
                self.clock.sleep(max(0.0, (min(waits) - self.clock.now()).total_seconds()))
        return {slug: r.report for slug, r in self.runs.items()}

    def _tick(self, r: ClientRun, now: datetime) -> None:
        s = self.settings
        if r.phase == "waiting":
            self._start(r, now)
        if r.phase == "stage":
            self._begin_stage(r, now)
        if r.phase in ("running", "rollback"):
            self._poll(r, now)
            if r.phase == "running":
                self._submit(r, now)
            if not r.jobs and not r.queue:
                self._stage_done(r, now)
        if r.phase == "soak" and r.soak_until is not None and now >= r.soak_until:
            self._after_soak(r, now)
        if r.phase in ("running", "rollback"):
            r.next_tick = now + timedelta(seconds=s.poll_seconds)
        elif r.phase == "soak":
            r.next_tick = r.soak_until
        elif r.phase == "stage":
            r.next_tick = now
        elif r.phase == "done":
            r.next_tick = None
        if r.pending_audit:
            self.calls.audit(r)

    def _emit(self, r: ClientRun, kind: str, *, post: bool = False, **data: Any) -> None:
        r.posts += post
        if self.progress is not None:
            self.progress(CycleEvent(kind, {"client": r.plan.client, **data}))

    def _set(self, r: ClientRun, h: StagedHost, outcome: HostOutcome, detail: str) -> None:
        r.report.results[h.host_id] = HostResult(h.host_id, outcome, detail, h.patch_ids)

    # ------------------------------------------------------------------ approval
    def _start(self, r: ClientRun, now: datetime) -> None:
        """Rehearse and ask policy about every host once; one card, at most one consent."""
        a = approve_plan(self.ops, r.plan, r.cycle_id, requester=self.settings.requester,
                         now=now, approve=self.approve)  # fmt: skip
        r.report.invariant_violations += a.violations
        r.report.consent_requests += a.asked
        for h, outcome, why in a.held:
            self._set(r, h, outcome, why)
            r.blocked.add(h.host_id)
        card = a.card
        self.calls.audit(r, "patch_cycle.approved", {**card, "consent_given": a.granted})
        try:
            r.baseline = self.calls.devices(force=True)
        except AdapterError:
            r.baseline = {}
        self._emit(r, "start", post=True, card=card, stages=len(r.plan.stages),
                   hosts=len(r.plan.hosts))  # fmt: skip
        r.phase = "stage"

    # ------------------------------------------------------------------ stages
    def _fits(self, r: ClientRun, now: datetime, p95: float | None = None) -> bool:
        return fits(r.plan, r.stage, now, p95 or self.p95())

    def _defer_window(self, r: ClientRun, hosts: list[StagedHost], now: datetime) -> None:
        why = deferral(r.plan, self.p95())
        for h in hosts:
            self._set(r, h, "deferred_window", why)

    def _begin_stage(self, r: ClientRun, now: datetime) -> None:
        if r.stage >= len(r.plan.stages):
            if not r.carry:
                self._finish(r, now)
                return
            stage_hosts, name = [], "retry"
        else:
            st = r.plan.stages[r.stage]
            stage_hosts, name = list(st.hosts), st.name
        hosts = [h for h in stage_hosts + r.carry if h.host_id not in r.blocked]
        r.carry = []
        if not self._fits(r, now):
            rest = [h for st in r.plan.stages[r.stage + 1 :] for h in st.hosts]
            self._defer_window(r, [h for h in hosts + rest if h.host_id not in r.blocked], now)
            self._emit(r, "deferred", post=True, hosts=len(hosts) + len(rest))
            self._finish(r, now)
            return
        devices = self.calls.devices()
        r.queue = []
        for h in hosts:
            ids = self._allowed(h)
            dev = devices.get(h.device_id)
            if not ids:
                self._set(r, h, "held", "only quarantined patches were pending")
            elif dev is None or not dev.online:
                self._set(r, h, "deferred_offline", "the RMM reports the device offline")
                if r.attempts[h.host_id + ":offline"] < 1 and r.stage < len(r.plan.stages):
                    r.attempts[h.host_id + ":offline"] += 1
                    r.carry.append(h)
            else:
                r.queue.append(h)
        r.stage += 1
        r.stages_run += 1
        r.stage_calls.clear()
        self._emit(r, "stage", number=r.stages_run, name=name, size=len(r.queue))
        r.phase = "running"

    def _submit(self, r: ClientRun, now: datetime) -> None:
        s, left = self.settings, []
        p95 = self.p95()
        for i, h in enumerate(r.queue):
            if self.in_flight >= s.max_in_flight:
                left += r.queue[i:]
                break
            if any(r.down[g] >= r.plan.budgets.get(g, 1) for g in h.groups):
                left.append(h)  # the group's redundancy budget is spent: wait for one to finish
                continue
            if not self._fits(r, now, p95):
                self._defer_window(r, [h], now)
                continue
            if not self.budget.take():
                left += r.queue[i:]
                break
            ids = self._allowed(h)
            if not ids:
                self._set(r, h, "held", "only quarantined patches were pending")
                continue
            r.attempts[h.host_id] += 1
            key = f"{r.cycle_id}:{h.host_id}:{r.attempts[h.host_id]}"
            try:
                job = self.calls.rmm.apply_patches(h.device_id, list(ids), reboot=h.reboot,
                                             idempotency_key=key)  # fmt: skip
            except AdapterError as exc:
                self.calls.record(
                    r, "rmm.apply_patches", h, key, "refused", detail=str(exc), patches=ids
                )
                self._failed(r, h, f"the RMM refused the job: {exc}")
                continue
            self.calls.record(
                r, "rmm.apply_patches", h, key, "submitted", job=job.job_id, patches=ids
            )
            r.jobs[job.job_id] = InFlight(h, "patch", ids, now, key)
            for g in h.groups:
                r.down[g] += 1
            self.in_flight += 1
        r.queue = left
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        r.peak_in_flight = max(r.peak_in_flight, sum(1 for _ in r.jobs))

    def _poll(self, r: ClientRun, now: datetime) -> None:
        s = self.settings
        due = sorted(
            (j for j in r.jobs.items()
             if (now - j[1].started).total_seconds() >= s.expected_job_seconds),
            key=lambda j: j[1].started,
        )  # fmt: skip
        states = self.calls.states([job_id for job_id, _ in due])
        for job_id, j in due:
            if job_id not in states:
                continue  # no request left in this minute's budget: next poll
            state, detail = states[job_id]
            age = (now - j.started).total_seconds()
            if state in ("queued", "running", "unknown") and age < s.job_timeout_seconds:
                continue
            del r.jobs[job_id]
            self.in_flight -= 1
            end = state if state in ("succeeded", "failed") else f"timed_out ({state})"
            r.pending_audit.append((JOB_KIND, {
                "cycle_id": r.cycle_id, "kind": j.kind, "target": j.host.host_id,
                "device_id": j.host.device_id, "job_id": job_id, "idempotency_key": j.key,
                "patch_ids": list(j.patch_ids), "outcome": end, "detail": detail,
                "minutes": round(age / 60, 1),
            }))  # fmt: skip
            if j.kind == "uninstall":
                self._uninstalled(r, j, state == "succeeded", detail)
                continue
            for g in j.host.groups:
                r.down[g] -= 1
            if state == "succeeded":
                r.done_ok += 1
                self.durations.append(age)
                self._set(r, j.host, "patched", "succeeded")
                for kb in j.patch_ids:
                    r.installed.setdefault(kb, set()).add(j.host.host_id)
            else:
                self._failed(r, j.host, detail or f"job {state}")

    def _allowed(self, h: StagedHost) -> tuple[str, ...]:
        """The host's patches less those quarantined for it (in any client of the cycle)."""
        q = self.quarantine
        return tuple(
            p for p in h.patch_ids
            if p not in q or (q[p] is not None and not set(h.groups) & (q[p] or set()))
        )  # fmt: skip

    def _failed(self, r: ClientRun, h: StagedHost, why: str) -> None:
        r.failures += 1
        if r.attempts[h.host_id] <= self.settings.retries:
            self._set(r, h, "failed", why)
            r.carry.append(h)
            return
        self._set(r, h, "escalated", f"failed {r.attempts[h.host_id]} times: {why}"
                  + self.calls.ticket(r, h, why))  # fmt: skip

    def _stage_done(self, r: ClientRun, now: datetime) -> None:
        if r.phase == "rollback":
            r.phase = "stage"
            return
        soak = r.plan.stages[min(r.stage, len(r.plan.stages)) - 1].soak_seconds
        r.soak_until = now + timedelta(seconds=soak)
        r.phase = "soak"
        self.calls.audit(r, STAGE_KIND, {"cycle_id": r.cycle_id, "stage": r.stages_run,
                                    "counts": r.report.counts(),
                                    "calls": dict(sorted(r.stage_calls.items()))})  # fmt: skip
        self._emit(r, "stage_done", post=True, number=r.stages_run, counts=r.report.counts())

    # ------------------------------------------------------------------ evidence
    def _after_soak(self, r: ClientRun, now: datetime) -> None:
        """Health read after the soak; a broken service or a failure spike stops what follows."""
        try:
            after = self.calls.devices(force=True)
        except AdapterError:
            after = {}
        if r.installed and not after:
            self._halt(r, now, "health could not be read after the soak")
            return
        self._quarantine(r, after, now)
        if r.report.halted:
            return
        n, p = r.done_ok + r.failures, self.settings.background_failure_rate
        if over_background(r.failures, n, p):
            self._halt(r, now, f"{r.failures} of {n} jobs failed, above the background "
                       f"rate of {p:.0%}")  # fmt: skip
        elif r.failures > self.settings.failure_budget * max(1, r.report.planned):
            self._halt(r, now, f"{r.failures} failures spent the cycle's failure budget")
        elif r.jobs:
            r.phase = "rollback"
        else:
            r.phase = "stage"

    def _quarantine(self, r: ClientRun, after: dict[str, Device], now: datetime) -> None:
        hosts = {h.host_id: h for h in r.plan.hosts}
        patched = {h for hs in r.installed.values() for h in hs}
        broken = broken_services(hosts, patched, r.baseline, after)
        if not broken:
            return
        suspects = suspect_patches(broken, r.installed, hosts, after)
        names = set().union(*broken.values())
        if not suspects:
            self._halt(r, now, f"services broke on {len(broken)} host(s), cause not isolated")
            return
        # One suspect is isolated: kept off every host and rejected in the RMM. Several (one
        # broken host had them all) are kept off the hosts of the broken services only, and
        # uninstalled where they broke something: the other hosts show them harmless.
        groups = {g for hid in broken for g in hosts[hid].groups if g.split(":", 1)[-1] in names}
        scope = (
            None if len(suspects) == 1 else groups or {g for b in broken for g in hosts[b].groups}
        )
        for kb in sorted(suspects):
            why = (
                f"broke {', '.join(sorted(names))} on {len(broken)} host(s) in stage {r.stages_run}"
            )
            prior = self.quarantine.get(kb, set())
            self.quarantine[kb] = None if scope is None or prior is None else prior | scope
            if scope is None:
                why += self.calls.reject(r, kb, why)
            else:
                why += "; not isolated from the host's other patches, kept off those services"
            r.report.quarantined[kb] = why
            self._emit(r, "quarantined", post=True, patch=kb, hosts=sorted(broken))
            where = r.installed.get(kb, set())
            if scope is not None:
                where = {hid for hid in where if set(hosts[hid].groups) & scope}
            for hid in sorted(where):
                r.installed[kb].discard(hid)
                self._uninstall(r, hosts[hid], kb, now)

    def _uninstall(self, r: ClientRun, h: StagedHost, kb: str, now: datetime) -> None:
        self.budget.take(force=True)
        key = f"{r.cycle_id}:uninstall:{kb}:{h.host_id}"
        try:
            job = self.calls.rmm.run_script(h.device_id, "uninstall-patch", {"patch_id": kb},
                                      idempotency_key=key)  # fmt: skip
        except AdapterError as exc:
            self.calls.record(
                r, "rmm.run_script", h, key, "refused", detail=str(exc), patches=(kb,)
            )
            self._set(r, h, "escalated", f"{kb} quarantined; uninstall refused: {exc}")
            return
        self.calls.record(r, "rmm.run_script", h, key, "submitted", job=job.job_id, patches=(kb,))
        r.jobs[job.job_id] = InFlight(h, "uninstall", (kb,), now, key)
        self.in_flight += 1

    def _uninstalled(self, r: ClientRun, j: InFlight, ok: bool, detail: str) -> None:
        kb = j.patch_ids[0]
        if ok:
            r.report.rollbacks.setdefault(kb, []).append(j.host.host_id)
            self._set(r, j.host, "rolled_back", f"{kb} quarantined; uninstalled")
        else:
            self._set(r, j.host, "escalated", f"{kb} quarantined; uninstall failed: {detail}")

    def _halt(self, r: ClientRun, now: datetime, why: str) -> None:
        r.report.halted = why
        self._emit(r, "halted", post=True, reason=why)
        rest = [h for st in r.plan.stages[r.stage :] for h in st.hosts] + r.carry + r.queue
        for h in rest:
            if h.host_id not in r.blocked:
                self._set(r, h, "halted", why)
        r.carry, r.queue = [], []
        if r.jobs:  # uninstalls of a quarantined patch still finish before the cycle ends
            r.phase = "rollback"
            r.stage = len(r.plan.stages)
            return
        self._finish(r, now)

    # ------------------------------------------------------------------ helpers
    def p95(self) -> float:
        """p95 of measured job times (the plans' assumption until enough jobs finished)."""
        runs = [r.plan.settings.p95_job_seconds for r in self.runs.values()] or [600.0]
        return p95_seconds(self.durations, assumed=max(runs))

    def _finish(self, r: ClientRun, now: datetime) -> None:
        for h in r.plan.hosts:
            if h.host_id not in r.report.results:
                self._set(r, h, "deferred_window", "not reached before the cycle ended")
        r.phase, r.finished_at = "done", now
        body = {**r.report.audit_body(), "run_id": self.cycle_id, "client": r.plan.client}
        self.calls.audit(r, FINISHED_KIND, body)
        self._emit(r, "done", post=True, report=r.report)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per client: stages, peak jobs in flight, Slack posts, hours from opening to done."""
        now = self.clock.now()
        return {slug: r.stats(now) for slug, r in self.runs.items()}
