"""The staged cycle's requests to the RMM and the PSA: within the request budget, each audited.

:class:`CycleCalls` is what :class:`~agent.patching.staged.StagedCycle` asks of its integrations
beyond submitting jobs: one bulk device read per instant, job states in pages, rejecting a
quarantined patch, opening an escalation ticket, and the audit row of every call (queued per
client and written at the end of the tick, together with the row that sums it up).
"""

from __future__ import annotations

from typing import Any

from adapters.contracts import Device, PsaContract, RmmContract
from adapters.errors import AdapterError
from agent.patching.flight import ClientRun, CycleClock, RequestBudget
from agent.patching.stages import StagedHost
from agent.service import Operations

__all__ = ["CALL_KIND", "CycleCalls"]

CALL_KIND = "integration.call"
"""Audit kind of the row written for each change the cycle asks of an integration (a job
submitted, a patch rejected, a ticket opened): host, job id, idempotency key and outcome."""


class CycleCalls:
    """The RMM and PSA as the staged cycle reaches them: budgeted reads and audited calls."""

    def __init__(
        self,
        ops: Operations,
        *,
        rmm: RmmContract,
        psa: PsaContract | None,
        clock: CycleClock,
        budget: RequestBudget,
        requester: str,
    ) -> None:
        self.ops, self.rmm, self.psa, self.clock = ops, rmm, psa, clock
        self.budget = budget
        self.requester = requester
        self._read: tuple[Any, dict[str, Device]] | None = None

    def devices(self, *, force: bool = False) -> dict[str, Device]:
        """Every RMM device by id (``force``: a failed read raises instead of reading empty)."""
        # One bulk read per stage or soak: it always goes, whatever the budget. Clients whose
        # stages meet at the same instant share it (one request, not one per client).
        now = self.clock.now()
        if self._read is not None and self._read[0] == now:
            return self._read[1]
        self.budget.take(force=True)
        try:
            devices = {d.device_id: d for d in self.rmm.list_devices()}
            self._read = (now, devices)
            return devices
        except AdapterError:
            if force:
                raise
            return {}  # nothing known online: every host waits, nothing runs blind

    def states(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Job states, in bulk (one request a page) where the RMM can, else one by one; as many
        as the request budget allows, oldest first."""
        out: dict[str, tuple[str, str]] = {}
        bulk = getattr(self.rmm, "jobs_status", None)
        page = 200 if bulk is not None else 1
        for i in range(0, len(job_ids), page):
            ids = job_ids[i : i + page]
            if not self.budget.take():
                break
            try:
                jobs = bulk(ids) if bulk is not None else [self.rmm.job_status(ids[0])]
            except AdapterError:
                out.update({j: ("unknown", "status unavailable") for j in ids})
                continue
            found = {job.job_id: (job.state, job.detail) for job in jobs}
            out.update({j: found.get(j, ("unknown", "the RMM does not know the job")) for j in ids})
        return out

    def ticket(self, r: ClientRun, h: StagedHost, why: str) -> str:
        """Open an escalation ticket for ``h``; returns the sentence the host's result ends with."""
        if self.psa is None:
            return ""
        key = f"{r.cycle_id}:escalate:{h.host_id}"
        try:
            t = self.psa.create_ticket(
                f"Patching failed on {h.name}",
                f"Patch cycle {r.cycle_id}: {', '.join(h.patch_ids)} failed ({why}).",
                priority="medium",
                idempotency_key=key,
            )
        except AdapterError as exc:
            self.record(r, "psa.create_ticket", h, key, "failed", detail=str(exc))
            return "; no ticket (PSA unavailable)"
        self.record(r, "psa.create_ticket", h, key, "succeeded", detail=f"ticket {t.number}")
        return f"; ticket {t.number}"

    def reject(self, r: ClientRun, kb: str, why: str) -> str:
        """Reject a quarantined patch in the RMM; returns the sentence its reason ends with."""
        reject = getattr(self.rmm, "reject_patch", None)
        if reject is None:
            return "; the RMM cannot reject patches, left out of every later stage"
        try:
            self.budget.take(force=True)
            reject(kb, reason=why)
        except AdapterError as exc:
            self.record(r, "rmm.reject_patch", None, "", "failed", detail=str(exc), patches=(kb,))
            return f"; rejecting it in the RMM failed: {exc}"
        self.record(r, "rmm.reject_patch", None, "", "succeeded", detail=why, patches=(kb,))
        return "; rejected in the RMM"

    def record(
        self, r: ClientRun, capability: str, h: StagedHost | None, key: str, outcome: str, *,
        job: str = "", detail: str = "", patches: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        """Queue the audit row of one integration call (written at the end of the tick)."""
        r.stage_calls[f"{capability}:{outcome}"] += 1
        r.pending_audit.append((CALL_KIND, {
            "cycle_id": r.cycle_id, "capability": capability,
            "target": h.host_id if h is not None else "", "device_id": h.device_id if h else "",
            "job_id": job, "idempotency_key": key, "patch_ids": list(patches),
            "outcome": outcome, "detail": detail,
        }))  # fmt: skip

    def audit(self, r: ClientRun, kind: str = "", body: dict[str, Any] | None = None) -> None:
        """Write ``r``'s queued call rows and then (if given) one ``kind`` row, together."""
        rows, r.pending_audit = [*r.pending_audit, *([(kind, body or {})] if kind else [])], []
        if not rows:
            return
        with self.ops.engine.begin() as conn:
            for k, b in rows:
                self.ops.audit(conn, kind=k, actor=self.requester, body=b,
                               change_id=None, plan_hash=None)  # fmt: skip
