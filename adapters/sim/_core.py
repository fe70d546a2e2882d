"""The engine under every sim adapter: state, time, jobs, faults, idempotency and call logging.

Time-driven changes (a reboot ending, a patch run finishing, a firewall rule expiring) are
events on a heap keyed by clock time. Nothing runs in the background: every call first
*settles* the heap up to ``clock.now()``, so a :class:`ManualClock` advanced by an hour makes
exactly the changes of that hour visible, in order, on the next call.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import datetime
from typing import Any, TypeVar

from adapters.contracts import FirewallRule, Job
from adapters.errors import (
    AdapterError,
    AmbiguousOutcome,
    AuthError,
    IdempotencyConflict,
    NotFound,
    RateLimited,
    TransientError,
)
from adapters.sim.calls import CallLog, CallStore, fingerprint
from adapters.sim.clock import Clock, SimTimings
from adapters.sim.faults import FaultRule, FaultSet
from adapters.sim.state import (
    AlertState,
    BackupJobState,
    CredentialState,
    DeviceState,
    GroupState,
    JobRecord,
    RestorePointState,
    ServiceState,
    SiemRuleState,
    TicketState,
    UserState,
)

__all__ = ["SimCore"]

T = TypeVar("T")
Action = Callable[[datetime], None]

# Fault kinds that stop a call before it reaches the estate, in the order a vendor checks them.
_PRE_FAULTS = ("auth", "rate_limit", "error")


class SimCore:
    """All the state and machinery of one simulated estate, behind one re-entrant lock."""

    def __init__(
        self, *, clock: Clock, timings: SimTimings, seed: int, store: CallStore | None = None
    ) -> None:
        self.clock = clock
        self.timings = timings
        self.rng = random.Random(seed)
        self.faults = FaultSet(seed)
        self.calls = CallLog(store)
        # Re-entrant: an action scheduled from inside a call may call back into helpers.
        self.lock = threading.RLock()
        self.devices: dict[str, DeviceState] = {}
        self.services: dict[str, ServiceState] = {}
        self.credentials: dict[str, CredentialState] = {}
        self.users: dict[str, UserState] = {}
        self.groups: dict[str, GroupState] = {}
        self.tickets: dict[str, TicketState] = {}
        self.siem_rules: dict[str, SiemRuleState] = {}
        self.alerts: dict[str, AlertState] = {}
        self.backups: dict[str, BackupJobState] = {}
        self.points: dict[str, RestorePointState] = {}
        self.firewall: dict[str, FirewallRule] = {}
        """``<firewall>/<local rule id>`` -> rule (with its local id)."""
        self.firewalls: list[str] = []
        """Firewall device names, in estate order."""
        self.data_as_of: dict[str, datetime | None] = {}
        """Object name -> time its data was rolled back to (``None``: live data)."""
        self.jobs: dict[str, JobRecord] = {}
        self.rejected_patches: dict[str, str] = {}
        """Patch id -> why the RMM was told to reject it (no job installs it any more)."""
        self.events: list[dict[str, Any]] = []
        self._heap: list[tuple[datetime, int, Action]] = []
        self._order = itertools.count()
        self._waiting: dict[str, list[tuple[JobRecord, Action]]] = {}
        self._ids: Counter[str] = Counter()
        self._shared_ids = False

    # ------------------------------------------------------------------ time and events
    def next_id(self, prefix: str) -> str:
        """A new deterministic id such as ``job-00001``.

        Once :meth:`share_ids` is called, ids come from the call store's sequences, so sims that
        share one store (replicas) never hand out the same job, alert or rule id twice.
        """
        if self._shared_ids:
            n = self.calls.store.next_number(f"id:{prefix}", after=self._ids[prefix])
            return f"{prefix}-{n:05d}"
        self._ids[prefix] += 1
        return f"{prefix}-{self._ids[prefix]:05d}"

    def share_ids(self) -> None:
        """Take ids from the call store from now on (after the estate is built: ids made while
        building are the same in every process, and the shared sequences start above them)."""
        self._shared_ids = True

    def schedule(self, at: datetime, action: Action) -> None:
        """Run ``action(at)`` once the clock reaches ``at``."""
        heapq.heappush(self._heap, (at, next(self._order), action))

    def settle(self) -> datetime:
        """Apply every event due by now, in time order; return now."""
        now = self.clock.now()
        with self.lock:
            while self._heap and self._heap[0][0] <= now:
                at, _, action = heapq.heappop(self._heap)
                action(at)
        return now

    def log_event(self, at: datetime, type_: str, **fields: Any) -> None:
        """Append to the estate's event stream (what the SIEM can search)."""
        self.events.append({"ts": at.isoformat(), "type": type_, **fields})

    # ------------------------------------------------------------------ lookups
    def device(self, device_id: str, call: str) -> DeviceState:
        """The device or :class:`NotFound`."""
        dev = self.devices.get(device_id)
        if dev is None:
            raise NotFound(f"no device with id {device_id!r}", integration="sim-rmm", call=call)
        return dev

    def user(self, user_id: str, call: str) -> UserState:
        """The user or :class:`NotFound`."""
        user = self.users.get(user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id!r}", integration="sim-identity", call=call)
        return user

    def find_service(self, name_or_id: str) -> ServiceState | None:
        """A service by entity id or by name."""
        svc = self.services.get(name_or_id)
        if svc is not None:
            return svc
        return next((s for s in self.services.values() if s.name == name_or_id), None)

    # ------------------------------------------------------------------ jobs
    def new_job(self, category: str, kind: str, target: str, key: str, at: datetime) -> JobRecord:
        """Register a queued job."""
        job = JobRecord(
            job_id=self.next_id("job"),
            kind=kind,
            target=target,
            category=category,
            idempotency_key=key,
            created_at=at,
        )
        self.jobs[job.job_id] = job
        return job

    @staticmethod
    def job_view(job: JobRecord) -> Job:
        """The contract record of a job."""
        return Job(
            job_id=job.job_id,
            state=job.state,
            target=job.target,
            kind=job.kind,
            detail=job.detail,
            idempotency_key=job.idempotency_key,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )

    @staticmethod
    def finish(job: JobRecord, at: datetime, *, ok: bool, detail: str = "") -> None:
        """End a job."""
        job.state = "succeeded" if ok else "failed"
        job.finished_at = at
        if detail:
            job.detail = detail

    def start_on_device(self, job: JobRecord, device_id: str, at: datetime, run: Action) -> None:
        """Start ``job`` on a device at ``at``, or hold it queued until the device is back.

        A job held longer than ``offline_timeout`` fails, as an RMM agent that never checks in.
        """
        dev = self.devices[device_id]
        if dev.online:
            job.state = "running"
            job.started_at = at
            run(at)
            return
        self._waiting.setdefault(device_id, []).append((job, run))

        def give_up(when: datetime) -> None:
            if job.state == "queued":
                self.finish(job, when, ok=False, detail=f"device {device_id} offline")

        self.schedule(at + self.timings.seconds("offline_timeout"), give_up)

    def wake(self, device_id: str, at: datetime) -> None:
        """The device is back: start the jobs that were waiting for it."""
        dev = self.devices[device_id]
        if not dev.online:
            return
        for job, run in self._waiting.pop(device_id, []):
            if job.state == "queued":
                job.state = "running"
                job.started_at = at
                run(at)

    def begin_reboot(self, dev: DeviceState, at: datetime, on_done: Action | None = None) -> None:
        """Take ``dev`` down now; it comes back after ``reboot_seconds`` with a new last_boot."""
        back = at + self.timings.seconds("reboot")
        dev.rebooting_until = back
        dev.last_seen = at
        self.log_event(at, "shutdown", device_id=dev.device_id, hostname=dev.hostname)
        # A hypervisor takes its guests down with it; they boot again when it is back.
        for guest in dev.guests:
            self.begin_reboot(self.devices[guest], at)

        def come_back(when: datetime) -> None:
            if dev.rebooting_until is not None and dev.rebooting_until > when:
                # A later reboot overlapped this one: this one is done when that one is.
                if on_done is not None:
                    self.schedule(dev.rebooting_until, on_done)
                return
            dev.rebooting_until = None
            dev.last_boot = when
            dev.pending_reboot = False
            if dev.reachable:
                dev.last_seen = when
            self.log_event(when, "boot", device_id=dev.device_id, hostname=dev.hostname)
            if on_done is not None:
                on_done(when)
            self.wake(dev.device_id, when)

        self.schedule(back, come_back)

    # ------------------------------------------------------------------ health
    def secret_valid(self, cred: CredentialState, version: int, now: datetime) -> bool:
        """Whether a consumer configured with ``version`` of ``cred`` can still log in."""
        if cred.owner is not None:
            owner = self.users.get(cred.owner)
            if owner is not None and owner.status == "disabled":
                return False
        if version == cred.version:
            return True
        return (
            version == cred.previous_version
            and cred.previous_valid_until is not None
            and now < cred.previous_valid_until
        )

    def instance_status(self, dev: DeviceState, service_id: str, now: datetime) -> tuple[str, str]:
        """(``running`` | ``stopped`` | ``failed``, reason) of one service instance."""
        if dev.rebooting_until is not None:
            return "stopped", f"{dev.hostname} is rebooting"
        if not dev.reachable:
            return "stopped", f"{dev.hostname} is offline"
        if service_id in dev.stopped:
            return "stopped", f"stopped on {dev.hostname}"
        if service_id in dev.broken:
            return "failed", f"broken on {dev.hostname} by patch {dev.broken[service_id]}"
        svc = self.services.get(service_id)
        if svc is None:
            return "running", ""
        for uid in svc.identities:
            user = self.users.get(uid)
            if user is not None and user.status == "disabled":
                return "failed", f"its account {user.username} is disabled"
        for cid in svc.credentials:
            cred = self.credentials[cid]
            version = svc.configured.get((dev.device_id, cid), cred.version)
            if not self.secret_valid(cred, version, now):
                return "failed", (
                    f"credential {cid} version {version} no longer valid on {dev.hostname}"
                )
        return "running", ""

    # ------------------------------------------------------------------ the call wrapper
    def call(
        self,
        category: str,
        method: str,
        *,
        target: str | None,
        args: dict[str, Any],
        act: Callable[[list[FaultRule], datetime], T],
        key: str | None = None,
        patch_ids: Iterable[str] = (),
        changed: Callable[[], bool] | None = None,
    ) -> T:
        """Run one adapter call: faults, idempotency, the change itself, logging, counting.

        ``key`` is given for mutating calls only. ``act`` receives the fired fault rules and the
        current time, and is the only place where state changes. ``changed``, asked after
        ``act``, says whether the call changed anything (default: it did); a call that found
        the estate already as wanted does not count as an effect.
        """
        integration = f"sim-{category}"
        if key is not None and not key:
            raise ValueError(f"{category}.{method}: idempotency_key must not be empty")
        fired = self.faults.fire(category, method, target, patch_ids=patch_ids)
        delay = sum(r.latency_seconds for r in fired if r.kind == "latency")
        if delay:
            # Outside the lock: a slow call must not stall the other workers.
            self.clock.sleep(delay)
        with self.lock:
            now = self.settle()

            def log(outcome: str) -> None:
                self.calls.record(
                    category=category,
                    method=method,
                    target=target,
                    args=args,
                    idempotency_key=key,
                    at=now,
                    outcome=outcome,
                )

            try:
                self._raise_pre_faults(fired, integration, method)
            except AdapterError as exc:
                log(type(exc).__name__)
                raise
            if any(r.kind == "offline" for r in fired) and target in self.devices:
                dev = self.devices[target]
                dev.reachable = False
                dev.last_seen = now
            fp = fingerprint(method, args)
            store = self.calls.store
            # Only changes need the cross-process write lock; reads just log.
            with store.exclusive() if key is not None else nullcontext():
                if key is not None:
                    seen = store.lookup(category, key)
                    if seen is not None:
                        if seen[0] != fp:
                            log("IdempotencyConflict")
                            raise IdempotencyConflict(
                                f"idempotency key {key!r} was first used with other arguments",
                                integration=integration,
                                call=method,
                            )
                        log("replayed")
                        return seen[1]  # type: ignore[return-value]
                try:
                    result = act(fired, now)
                except AdapterError as exc:
                    log(type(exc).__name__)
                    raise
                if key is not None:
                    store.remember(category, key, fp, result)
                    if changed is None or changed():
                        store.add_effect(category, method, target)
            # Zero-length timings complete at once; show the caller the settled state.
            self.settle()
            if any(r.kind == "timeout" for r in fired):
                log("AmbiguousOutcome")
                raise AmbiguousOutcome(
                    "read timeout after the request was sent", integration=integration, call=method
                )
            log("ok")
            return result

    @staticmethod
    def _raise_pre_faults(fired: list[FaultRule], integration: str, method: str) -> None:
        for kind in _PRE_FAULTS:
            rule = next((r for r in fired if r.kind == kind), None)
            if rule is None:
                continue
            if kind == "auth":
                raise AuthError(
                    f"HTTP {rule.status} from the vendor", integration=integration, call=method
                )
            if kind == "rate_limit":
                raise RateLimited(
                    "HTTP 429 Too Many Requests",
                    retry_after=rule.retry_after,
                    integration=integration,
                    call=method,
                )
            raise TransientError("HTTP 503 from the vendor", integration=integration, call=method)
