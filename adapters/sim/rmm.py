"""The sim's RMM: device inventory, patching, reboots and allowlisted scripts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from adapters.contracts import Device, Job, PatchState
from adapters.errors import AdapterError, NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule
from adapters.sim.state import DeviceState, JobRecord

__all__ = ["SCRIPTS", "SimRmm", "install_patches"]

Action = Callable[[datetime], None]

SCRIPTS: dict[str, tuple[str, ...]] = {
    "restart-service": ("service",),
    "update-secret": ("service",),
    "uninstall-patch": ("patch_id",),
    "collect-logs": (),
}
"""Allowlisted script id -> required parameters. ``update-secret`` takes an optional
``credential``; without it every credential the service uses is brought to its current version."""


class SimRmm:
    """:class:`~adapters.contracts.RmmContract` over a :class:`SimCore`."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    # ------------------------------------------------------------------ reads
    def list_devices(self) -> list[Device]:
        """Every device with its current online state, last boot and service health."""

        def act(_: list[FaultRule], now: datetime) -> list[Device]:
            return [self._view(d, now) for d in self._core.devices.values()]

        return self._core.call("rmm", "list_devices", target=None, args={}, act=act)

    def patch_status(self, device_id: str) -> list[PatchState]:
        """Every patch known on the device, pending, installed or failed."""

        def act(_: list[FaultRule], now: datetime) -> list[PatchState]:
            dev = self._core.device(device_id, "patch_status")
            return [
                PatchState(
                    device_id=dev.device_id,
                    patch_id=p.patch_id,
                    title=p.title,
                    severity=p.severity,
                    status=p.status,
                    reboot_required=p.reboot_required,
                )
                for p in dev.patches.values()
            ]

        return self._core.call(
            "rmm", "patch_status", target=device_id, args={"device_id": device_id}, act=act
        )

    def job_status(self, job_id: str) -> Job:
        """The job's current state."""

        def act(_: list[FaultRule], now: datetime) -> Job:
            job = self._core.jobs.get(job_id)
            if job is None or job.category != "rmm":
                raise NotFound(f"no RMM job {job_id!r}", integration="sim-rmm", call="job_status")
            return self._core.job_view(job)

        return self._core.call("rmm", "job_status", target=None, args={"job_id": job_id}, act=act)

    def jobs_status(self, job_ids: list[str]) -> list[Job]:
        """Many jobs in one request (NinjaOne's ``GET /v2/jobs`` lists active jobs in bulk);
        unknown ids are left out. Not part of :class:`RmmContract`; the patch cycle polls with it
        where the RMM offers it."""

        def act(_: list[FaultRule], now: datetime) -> list[Job]:
            jobs = (self._core.jobs.get(j) for j in job_ids)
            return [self._core.job_view(j) for j in jobs if j is not None and j.category == "rmm"]

        return self._core.call(
            "rmm", "jobs_status", target=None, args={"job_ids": list(job_ids)}, act=act
        )

    # ------------------------------------------------------------------ changes
    def reboot(self, device_id: str, *, idempotency_key: str) -> Job:
        """Queue a reboot; the device is down for ``reboot_seconds`` once it starts."""
        core = self._core

        def act(fired: list[FaultRule], now: datetime) -> Job:
            dev = core.device(device_id, "reboot")
            job = core.new_job("rmm", "reboot", device_id, idempotency_key, now)
            fail = _partial(fired)

            def run(at: datetime) -> None:
                if fail:
                    core.finish(job, at, ok=False, detail="reboot command failed on the device")
                    return
                core.begin_reboot(dev, at, lambda t: core.finish(job, t, ok=True))

            _queue(core, job, dev, now, run)
            return core.job_view(job)

        return core.call(
            "rmm",
            "reboot",
            target=device_id,
            args={"device_id": device_id},
            key=idempotency_key,
            act=act,
        )

    def apply_patches(
        self, device_id: str, patch_ids: list[str], *, reboot: bool, idempotency_key: str
    ) -> Job:
        """Install patches (``patch_seconds``), then reboot if asked and the install worked."""
        core = self._core

        def act(fired: list[FaultRule], now: datetime) -> Job:
            dev = core.device(device_id, "apply_patches")
            if not patch_ids:
                raise AdapterError(
                    "patch_ids is empty", integration="sim-rmm", call="apply_patches"
                )
            unknown = [p for p in patch_ids if p not in dev.patches]
            rejected = [p for p in patch_ids if p in core.rejected_patches]
            if rejected:
                raise AdapterError(
                    f"patches {', '.join(rejected)} are rejected and cannot be installed",
                    integration="sim-rmm",
                    call="apply_patches",
                )
            if unknown:
                raise NotFound(
                    f"patches {', '.join(unknown)} are not known on {device_id}",
                    integration="sim-rmm",
                    call="apply_patches",
                )
            job = core.new_job("rmm", "patch", device_id, idempotency_key, now)
            fail = _partial(fired)
            breaks = [(r.patch_id or "", r.service or "") for r in fired if r.kind == "bad_patch"]

            def run(at: datetime) -> None:
                core.schedule(at + core.timings.seconds("patch"), install)

            def install(at: datetime) -> None:
                install_patches(core, dev, patch_ids, at, failed=fail, breaks=breaks)
                if fail:
                    core.finish(job, at, ok=False, detail="patch install failed on the device")
                elif reboot:
                    core.begin_reboot(dev, at, lambda t: core.finish(job, t, ok=True))
                else:
                    core.finish(job, at, ok=True)

            _queue(core, job, dev, now, run)
            return core.job_view(job)

        return core.call(
            "rmm",
            "apply_patches",
            target=device_id,
            args={"device_id": device_id, "patch_ids": list(patch_ids), "reboot": reboot},
            key=idempotency_key,
            act=act,
            patch_ids=patch_ids,
        )

    def run_script(
        self, device_id: str, script_id: str, params: dict[str, str], *, idempotency_key: str
    ) -> Job:
        """Run one allowlisted script (see :data:`SCRIPTS`) on the device."""
        core = self._core

        def act(fired: list[FaultRule], now: datetime) -> Job:
            dev = core.device(device_id, "run_script")
            effect = _script(core, dev, script_id, params)
            job = core.new_job("rmm", f"script:{script_id}", device_id, idempotency_key, now)
            fail = _partial(fired)

            def run(at: datetime) -> None:
                core.schedule(at + core.timings.seconds("script"), done)

            def done(at: datetime) -> None:
                if fail:
                    core.finish(job, at, ok=False, detail=f"script {script_id} exited with 1")
                    return
                core.finish(job, at, ok=True, detail=effect(at))

            _queue(core, job, dev, now, run)
            return core.job_view(job)

        return core.call(
            "rmm",
            "run_script",
            target=device_id,
            args={"device_id": device_id, "script_id": script_id, "params": dict(params)},
            key=idempotency_key,
            act=act,
        )

    def reject_patch(self, patch_id: str, *, reason: str) -> None:
        """Reject a patch estate-wide, as an RMM patch policy's "reject" (Datto RMM, NinjaOne):
        no later job installs it, whoever asks. Not part of :class:`RmmContract`; the patch
        cycle uses it where the RMM offers it."""
        core = self._core

        def act(_: list[FaultRule], now: datetime) -> None:
            core.rejected_patches[patch_id] = reason

        core.call(
            "rmm",
            "reject_patch",
            target=None,
            args={"patch_id": patch_id, "reason": reason},
            key=f"reject:{patch_id}",
            act=act,
        )

    # ------------------------------------------------------------------ helpers
    def _view(self, dev: DeviceState, now: datetime) -> Device:
        names = {sid: self._core.services[sid].name for sid in dev.services}
        return Device(
            device_id=dev.device_id,
            hostname=dev.hostname,
            os=dev.os,
            online=dev.online,
            client=dev.client,
            site=dev.site,
            role=dev.role,
            last_boot=dev.last_boot,
            last_seen=now if dev.online else dev.last_seen,
            services={
                names[sid]: self._core.instance_status(dev, sid, now)[0] for sid in dev.services
            },
        )


def _partial(fired: list[FaultRule]) -> bool:
    return any(r.kind == "partial_failure" for r in fired)


def _queue(core: SimCore, job: JobRecord, dev: DeviceState, now: datetime, run: Action) -> None:
    """Start the job after the queue delay, once the device is reachable."""
    core.schedule(
        now + core.timings.seconds("queue"),
        lambda at: core.start_on_device(job, dev.device_id, at, run),
    )


def install_patches(
    core: SimCore,
    dev: DeviceState,
    patch_ids: list[str],
    at: datetime,
    *,
    failed: bool = False,
    breaks: list[tuple[str, str]] | None = None,
) -> None:
    """Mark patches installed (or failed) and apply any bad-patch breakage. Shared with drift."""
    for pid in patch_ids:
        patch = dev.patches[pid]
        if patch.status == "installed":
            continue
        patch.status = "failed" if failed else "installed"
        core.log_event(
            at, f"patch_{patch.status}", device_id=dev.device_id, hostname=dev.hostname, patch=pid
        )
        if not failed and patch.reboot_required:
            dev.pending_reboot = True
    if failed:
        return
    for pid, service in breaks or []:
        svc = core.find_service(service)
        sid = svc.service_id if svc is not None else service
        if pid in patch_ids and sid in dev.services:
            dev.broken[sid] = pid


def _script(
    core: SimCore, dev: DeviceState, script_id: str, params: dict[str, str]
) -> Callable[[datetime], str]:
    """Validate a script call now; return what it does when it runs."""
    if script_id not in SCRIPTS:
        raise NotFound(
            f"script {script_id!r} is not allowlisted (known: {', '.join(sorted(SCRIPTS))})",
            integration="sim-rmm",
            call="run_script",
        )
    missing = [p for p in SCRIPTS[script_id] if not params.get(p)]
    if missing:
        raise AdapterError(
            f"script {script_id!r} needs parameter(s) {', '.join(missing)}",
            integration="sim-rmm",
            call="run_script",
        )
    if script_id == "collect-logs":
        return lambda at: "logs collected"
    if script_id == "uninstall-patch":
        pid = params["patch_id"]
        if pid not in dev.patches:
            raise NotFound(
                f"patch {pid!r} is not known on {dev.device_id}",
                integration="sim-rmm",
                call="run_script",
            )

        def uninstall(at: datetime) -> str:
            dev.patches[pid].status = "pending"
            for sid in [s for s, p in dev.broken.items() if p == pid]:
                del dev.broken[sid]
            core.log_event(at, "patch_uninstalled", device_id=dev.device_id, patch=pid)
            return f"patch {pid} uninstalled"

        return uninstall
    svc = core.find_service(params["service"])
    if svc is None or svc.service_id not in dev.services:
        raise NotFound(
            f"service {params['service']!r} does not run on {dev.device_id}",
            integration="sim-rmm",
            call="run_script",
        )
    if script_id == "restart-service":

        def restart(at: datetime) -> str:
            dev.stopped.discard(svc.service_id)
            return f"service {svc.name} restarted"

        return restart
    cred_ids = [params["credential"]] if params.get("credential") else list(svc.credentials)
    unknown = [c for c in cred_ids if c not in svc.credentials]
    if unknown:
        raise NotFound(
            f"service {svc.name} does not use credential(s) {', '.join(unknown)}",
            integration="sim-rmm",
            call="run_script",
        )

    def update(at: datetime) -> str:
        for cid in cred_ids:
            svc.configured[(dev.device_id, cid)] = core.credentials[cid].version
        return f"service {svc.name} now uses the current secret"

    return update
