"""The wave cycle: a :class:`~agent.patching.cycle_plan.CyclePlan` rolled out safely, unattended.

:class:`PatchCycle` runs the plan. Each host's patching is its own change through
:meth:`agent.service.Operations.propose` (``source="signal"``), so rehearsal, invariants and the
operator's policy decide every host: routine hosts run by themselves, the ones policy flags
(production databases, say) wait for consent. Around that deterministic core the cycle adds what
only a whole rollout can see: offline hosts are deferred, failed hosts retried then escalated, a
patch that breaks a service after install is quarantined within the wave that showed it and
uninstalled where it went in, and a failure spike halts the cycle. The report accounts for every
host the plan named. (The staged cycle, :mod:`agent.patching.staged`, is its successor; this one
stays as the baseline of ``bench/autonomy.py`` and ``--legacy``.)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from adapters.contracts import Device, PsaContract, RmmContract
from adapters.errors import AdapterError
from agent.digest import PATCH_CYCLE_KIND
from agent.patching.cycle_plan import CyclePlan, HostPlan, PatchCycleSettings, Wave
from agent.patching.report import CycleEvent, CycleReport, HostOutcome, HostResult
from agent.service import ChangeRequest, Operations

__all__ = ["FINISHED_KIND", "PatchCycle"]

FINISHED_KIND = PATCH_CYCLE_KIND
"""Audit kind of the row written when a cycle ends (halted or not), body ``audit_body()``."""
_FINAL = frozenset({"reconciled", "rolled_back", "escalated", "denied", "rejected", "expired",
                    "stale", "verified", "failed"})  # fmt: skip


@dataclass
class _State:
    report: CycleReport
    quarantined: dict[str, str] = field(default_factory=dict)
    installed: dict[str, set[str]] = field(default_factory=dict)
    """KB -> hosts where this cycle installed it."""
    device_of: dict[str, str] = field(default_factory=dict)


class PatchCycle:
    """Runs a :class:`CyclePlan` through the operations core, wave by wave."""

    def __init__(
        self,
        ops: Operations,
        *,
        rmm: RmmContract,
        psa: PsaContract | None = None,
        settings: PatchCycleSettings | None = None,
        progress: Callable[[CycleEvent], None] | None = None,
        cycle_id: str = "",
    ) -> None:
        self.ops = ops
        self.rmm = rmm
        self.psa = psa
        self.settings = settings or PatchCycleSettings()
        self.progress = progress
        self.cycle_id = cycle_id or ops.now().strftime("pc-%Y%m%dT%H%M")

    def _emit(self, kind: str, **data: Any) -> None:
        if self.progress is not None:
            self.progress(CycleEvent(kind, data))

    # ------------------------------------------------------------------ running
    def run(self, plan: CyclePlan) -> CycleReport:
        """Run every wave; returns the report (also when halted)."""
        st = _State(CycleReport(cycle_id=self.cycle_id, planned=len(plan.hosts)))
        for hid, res in plan.deferred.items():
            st.report.results[hid] = res
        self._emit("start", waves=len(plan.waves), hosts=len(plan.hosts))
        retry: dict[str, list[HostPlan]] = {}
        for i, wave in enumerate(plan.waves):
            if st.report.halted:
                for h in wave.hosts:
                    st.report.results[h.host_id] = HostResult(
                        h.host_id, "halted", st.report.halted, h.patch_ids
                    )
                continue
            failed = self._wave(wave, st)
            retry.setdefault(wave.ring, []).extend(failed)
            last_of_ring = i + 1 == len(plan.waves) or plan.waves[i + 1].ring != wave.ring
            if last_of_ring and not st.report.halted:
                self._retry(wave.ring, retry.pop(wave.ring, []), st)
        self._record(st.report)
        self._emit("done", report=st.report)
        return st.report

    def _record(self, report: CycleReport) -> None:
        # The audit row is where the daily digest finds the last cycle's summary.
        with self.ops.engine.begin() as conn:
            self.ops.audit(
                conn,
                kind=FINISHED_KIND,
                actor=self.settings.requester,
                body=report.audit_body(),
                change_id=None,
                plan_hash=None,
            )

    def _wave(self, wave: Wave, st: _State, attempt: int = 0) -> list[HostPlan]:
        """Propose, execute and check one wave; returns the hosts that failed."""
        self._emit("wave", number=wave.number, ring=wave.ring, size=len(wave.hosts),
                   attempt=attempt)  # fmt: skip
        before = self._devices()
        proposed: dict[int, tuple[HostPlan, tuple[str, ...]]] = {}
        for h in wave.hosts:
            ids = tuple(p for p in h.patch_ids if p not in st.quarantined)
            if h.device_id not in before or not before[h.device_id].online:
                st.report.results[h.host_id] = HostResult(
                    h.host_id, "deferred_offline", "the RMM reports the device offline",
                    h.patch_ids,
                )  # fmt: skip
                continue
            if not ids:
                st.report.results[h.host_id] = HostResult(
                    h.host_id, "held", "only quarantined patches were pending", h.patch_ids
                )
                continue
            res = self.ops.propose(
                ChangeRequest(
                    action="patch.apply",
                    targets=[h.host_id],
                    params={"patch_ids": list(ids), "reboot": h.reboot},
                    reason=f"patch cycle {self.cycle_id}, wave {wave.number} ({wave.ring})",
                    requester=self.settings.requester,
                    source="signal",
                )
            )
            refs = [*self._prior(st, h), *([res.change.ref] if res.change else [])]
            if res.status == "auto" and res.change is not None:
                proposed[res.change.id] = (h, ids)
            elif res.status == "consent":
                st.report.consent_requests += 1
                st.report.results[h.host_id] = HostResult(
                    h.host_id, "awaiting_consent", res.message, ids, refs
                )
            else:
                st.report.results[h.host_id] = HostResult(h.host_id, "denied", res.message, ids,
                                                          refs)  # fmt: skip
            st.report.invariant_violations += int(
                res.plan is not None
                and res.status == "auto"
                and res.plan.invariant_summary()["deny"]
            )
        states = self._execute(list(proposed))
        failed: list[HostPlan] = []
        patched: list[HostPlan] = []
        for cid, (h, ids) in proposed.items():
            state = states[cid]
            ref = f"CR-{cid}"
            if state in ("reconciled", "verified"):
                patched.append(h)
                st.report.results[h.host_id] = HostResult(
                    h.host_id, "patched", state, ids, [*self._prior(st, h), ref]
                )
                st.device_of[h.host_id] = h.device_id
                for kb in ids:
                    st.installed.setdefault(kb, set()).add(h.host_id)
            else:
                failed.append(h)
                st.report.results[h.host_id] = HostResult(
                    h.host_id, "failed", state, ids, [*self._prior(st, h), ref]
                )
        self._check_health(wave, patched, before, st)
        n = len(proposed)
        if (
            n
            and len(failed) >= self.settings.halt_min_failures
            and len(failed) / n > self.settings.halt_failure_rate
        ):
            st.report.halted = f"wave {wave.number}: {len(failed)} of {n} hosts failed"
            self._emit("halted", reason=st.report.halted)
        self._emit("wave_done", number=wave.number, counts=st.report.counts())
        return failed

    @staticmethod
    def _prior(st: _State, h: HostPlan) -> list[str]:
        prior = st.report.results.get(h.host_id)
        return prior.changes if prior is not None else []

    def _devices(self) -> dict[str, Device]:
        try:
            return {d.device_id: d for d in self.rmm.list_devices()}
        except AdapterError:
            return {}  # nothing known online: every host is deferred, nothing runs blind

    def _execute(self, change_ids: list[int]) -> dict[int, str]:
        """Run the queued changes (``workers`` threads) and return each one's final state."""
        pending = set(change_ids)
        states: dict[int, str] = {}
        while pending:
            if self.settings.workers > 1:
                with ThreadPoolExecutor(self.settings.workers) as pool:
                    list(pool.map(lambda _: self.ops.drain(), range(self.settings.workers)))
            else:
                self.ops.drain()
            progressed = False
            for cid in list(pending):
                state = self.ops.journal.get(cid).state
                if state in _FINAL:
                    states[cid] = state
                    pending.discard(cid)
                    progressed = True
            if not progressed:  # another worker holds them; give it a moment
                self.ops.executor.sleep(0.05)
        return states

    # ------------------------------------------------------------------ bad patches
    def _check_health(
        self, wave: Wave, patched: list[HostPlan], before: dict[str, Device], st: _State
    ) -> None:
        """After install: a service that fails on patched hosts (and ran before the wave)
        quarantines the patch those hosts have in common."""
        if not patched:
            return
        after = self._devices()

        def failing(h: HostPlan) -> bool:
            dev, old = after.get(h.device_id), before.get(h.device_id)
            if dev is None or old is None:
                return False
            return any(v == "failed" and old.services.get(k) != "failed"
                       for k, v in dev.services.items())  # fmt: skip

        broken = [h for h in patched if failing(h)]
        if not broken:
            return
        common = set.intersection(*(set(st.report.results[h.host_id].patch_ids) for h in broken))
        suspects = common or {p for h in broken for p in st.report.results[h.host_id].patch_ids}
        # A patch that also went onto a host where the same service still runs is not the cause.
        failed_names = {
            k for h in broken for k, v in after[h.device_id].services.items() if v == "failed"
        }
        for kb in sorted(suspects):
            for other in st.installed.get(kb, set()):
                dev = after.get(st.device_of.get(other, ""))
                if (
                    dev is not None
                    and any(dev.services.get(n) == "running" for n in failed_names)
                    and len(suspects) > 1
                ):
                    suspects.discard(kb)
                    break
        for kb in sorted(suspects):
            st.quarantined[kb] = f"broke a service on {len(broken)} host(s) in wave {wave.number}"
            self._emit("quarantined", patch=kb, hosts=[h.name for h in broken])
            self._rollback(kb, st)

    def _rollback(self, kb: str, st: _State) -> None:
        proposed: dict[int, str] = {}
        for hid in sorted(st.installed.pop(kb, set())):
            res = self.ops.propose(
                ChangeRequest(
                    action="patch.uninstall",
                    targets=[hid],
                    params={"patch_ids": [kb]},
                    reason=f"patch cycle {self.cycle_id}: {kb} quarantined",
                    requester=self.settings.requester,
                    source="signal",
                )
            )
            prior = st.report.results[hid]
            if res.status == "auto" and res.change is not None:
                proposed[res.change.id] = hid
                continue
            st.report.consent_requests += res.status == "consent"
            st.report.results[hid] = HostResult(
                hid, "escalated", f"rollback of {kb} {res.status}: {res.message}",
                prior.patch_ids, [*prior.changes, *([res.change.ref] if res.change else [])],
            )  # fmt: skip
        for cid, state in self._execute(list(proposed)).items():
            hid = proposed[cid]
            prior = st.report.results[hid]
            outcome: HostOutcome = (
                "rolled_back" if state in ("reconciled", "verified") else "escalated"
            )
            if outcome == "rolled_back":
                st.report.rollbacks.setdefault(kb, []).append(hid)
            st.report.results[hid] = HostResult(
                hid, outcome, f"{kb} quarantined; uninstall {state}", prior.patch_ids,
                [*prior.changes, f"CR-{cid}"],
            )  # fmt: skip
        st.report.quarantined[kb] = st.quarantined[kb]

    # ------------------------------------------------------------------ retries
    def _retry(self, ring: str, failed: list[HostPlan], st: _State) -> None:
        for attempt in range(1, self.settings.retries + 1):
            if not failed or st.report.halted:
                break
            wave = Wave(0, f"{ring} retry {attempt}", tuple(failed))
            failed = self._wave(wave, st, attempt)
        for h in failed:
            prior = st.report.results[h.host_id]
            ticket = self._escalate(h, prior.detail)
            st.report.results[h.host_id] = HostResult(
                h.host_id, "escalated", f"failed after {self.settings.retries} retr"
                f"{'y' if self.settings.retries == 1 else 'ies'}: {prior.detail}{ticket}",
                prior.patch_ids, prior.changes,
            )  # fmt: skip

    def _escalate(self, h: HostPlan, why: str) -> str:
        if self.psa is None:
            return ""
        try:
            t = self.psa.create_ticket(
                f"Patching failed on {h.name}",
                f"Patch cycle {self.cycle_id}: {', '.join(h.patch_ids)} failed ({why}).",
                priority="medium",
                idempotency_key=f"{self.cycle_id}:escalate:{h.host_id}",
            )
        except AdapterError:
            return "; no ticket (PSA unavailable)"
        return f"; ticket {t.number}"
