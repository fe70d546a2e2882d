"""NinjaOne RMM client (public API v2, OAuth2 client credentials).

Endpoints used: ``POST /ws/oauth/token``, ``GET /v2/devices-detailed`` (cursor ``after``),
``GET /v2/device/{id}/os-patches``, ``GET /v2/device/{id}/os-patch-installs``,
``POST /v2/device/{id}/patch/os/apply``, ``POST /v2/device/{id}/reboot/{mode}``,
``POST /v2/device/{id}/script/run`` and ``GET /v2/device/{id}/activities``.

NinjaOne answers the action calls without a job id, so the job id this client returns encodes
the device, the kind, the start time and the device's last activity id before the call.
:meth:`job_status` asks the activity log for activities of the job's type newer than that id
(``newerThan``, ``activityType``), takes the first one as the job and follows its series
(``seriesUid``) to the end: ``SUCCESS`` succeeds; ``FAILURE``, ``UNSUPPORTED`` and
``UNCOMPLETED`` (and a cancelled series) fail.

``POST .../patch/os/apply`` installs *every* approved pending patch of the device, and public
API v2 has no call that rejects a single patch. So :meth:`apply_patches` refuses when the device
has an approved pending patch that was not asked for (a quarantined patch, say): the refusal names
it, for a person to reject it in NinjaOne (device or policy override) before the next apply.
Patches NinjaOne shows as ``REJECTED`` are not pending; ``MANUAL`` ones await approval and
apply would not install them, so asking for one is refused too.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import Device, Job, JobState, PatchState
from adapters.errors import NotFound, RequestRejected
from adapters.vendors._auth import OAuth2Token
from adapters.vendors._parse import (
    Malformed,
    as_dict,
    as_list,
    epoch,
    opt_str,
    parsing,
    req_str,
    seg,
)

__all__ = ["NinjaOneClient"]

# Which activity types in the device log belong to which of our job kinds.
_ACTIVITY_TYPES = {
    "patch": {"PATCH_MANAGEMENT"},
    "reboot": {"ACTION", "SYSTEM"},
    "script": {"SCRIPTING", "ACTIONSET"},
}
# activityResult values (Activity schema); anything but SUCCESS ends the job as failed.
_RESULT_STATES: dict[str, JobState] = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "UNSUPPORTED": "failed",
    "UNCOMPLETED": "failed",
}
# statusCode values that end a series without a result.
_ENDED_WITHOUT_RESULT = frozenset({"CANCELLED", "BLOCKED"})


class NinjaOneClient:
    """:class:`adapters.contracts.RmmContract` over the NinjaOne public API.

    Args:
        base_url: The instance, e.g. ``https://eu.ninjarmm.com``.
        client_id: OAuth2 client id of the API application.
        client_secret: Its secret.
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        scope: OAuth2 scopes requested.
        page_size: Devices per page.
        run_as: Credential NinjaOne runs scripts as.
    """

    integration = "ninjaone"

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        scope: str = "monitoring management control",
        page_size: int = 200,
        run_as: str = "system",
    ) -> None:
        hooks = hooks or HttpHooks()
        auth = OAuth2Token(
            "/ws/oauth/token",
            form={"grant_type": "client_credentials", "client_id": client_id, "scope": scope},
            secret_form={"client_secret": client_secret},
            clock=hooks.clock,
        )
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=auth,
            hooks=hooks,
        )
        self._page_size = page_size
        self._run_as = run_as

    def __repr__(self) -> str:
        return f"NinjaOneClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def list_devices(self) -> list[Device]:
        """Every device, page by page (cursor is the last device id seen)."""
        call = "list_devices"

        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return as_list(page.body, "devices")

        def following(page: HttpResponse, _seen: int) -> dict[str, str | int | bool] | None:
            batch = page.body
            if not isinstance(batch, list) or len(batch) < self._page_size:
                return None
            with parsing(self.integration, call):
                return {"after": req_str(as_dict(batch[-1], "device"), "id")}

        raw = list(
            self.http.paginate(
                "/v2/devices-detailed",
                call=call,
                items=items,
                next_request=following,
                params={"pageSize": self._page_size},
            )
        )
        with parsing(self.integration, call):
            return [_device(as_dict(d, "device")) for d in raw]

    def patch_status(self, device_id: str) -> list[PatchState]:
        """Pending (approved or awaiting approval) and failed patches, plus installed/failed
        ones from the install history; rejected patches are not pending and are left out."""
        call = "patch_status"
        pending = self.http.get(f"/v2/device/{seg(device_id)}/os-patches", call=call)
        installs = self.http.get(f"/v2/device/{seg(device_id)}/os-patch-installs", call=call)
        with parsing(self.integration, call):
            states = [
                _patch(device_id, p, installed=False)
                for p in _results(pending.body)
                if opt_str(p, "status").upper() != "REJECTED"  # rejected: will not install
            ]
            states += [_patch(device_id, p, installed=True) for p in _results(installs.body)]
        return states

    def job_status(self, job_id: str) -> Job:
        """The job's state from the first activity of its type after it started, and its series."""
        call = "job_status"
        device_id, kind, started, baseline = _split_job_id(job_id, self.integration)
        first: tuple[int, dict[str, Any]] | None = None
        for activity_type in sorted(_ACTIVITY_TYPES[kind]):
            for act in self._activities(
                device_id, call, activityType=activity_type, newerThan=baseline
            ):
                ident = _activity_id(act)
                if ident <= baseline or not self._after(act, started, baseline):
                    continue
                if first is None or ident < first[0]:
                    first = (ident, act)
        if first is None:
            return Job(
                job_id=job_id, state="queued", target=device_id, kind=kind, started_at=started
            )
        series = [first[1]]
        series_uid = opt_str(first[1], "seriesUid")
        if series_uid:
            series = [
                a
                for a in self._activities(device_id, call, seriesUid=series_uid, newerThan=baseline)
                if _activity_id(a) > baseline
            ] or series
        return _job_from_series(job_id, device_id, kind, started, series, self.integration)

    def _activities(self, device_id: str, call: str, **filters: str | int) -> list[dict[str, Any]]:
        page = self.http.get(
            f"/v2/device/{seg(device_id)}/activities",
            call=call,
            params={"pageSize": 100, **filters},
        )
        with parsing(self.integration, call):
            body = as_dict(page.body, "activities page")
            return [as_dict(a, "activity") for a in as_list(body.get("activities", []), "acts")]

    @staticmethod
    def _after(act: dict[str, Any], started: datetime, baseline: int) -> bool:
        # Old job ids carry no activity id: fall back to the activity's time.
        if baseline > 0:
            return True
        when = epoch(act.get("activityTime"), "activityTime")
        return when is not None and when >= started

    def _baseline(self, device_id: str, call: str) -> int:
        """The device's newest activity id now: the job's activities come after it."""
        page = self.http.get(
            f"/v2/device/{seg(device_id)}/activities", call=call, params={"pageSize": 10}
        )
        with parsing(self.integration, call):
            body = as_dict(page.body, "activities page")
            last = body.get("lastNodeActivityId")
            if isinstance(last, int) and not isinstance(last, bool):
                return last
            acts = [as_dict(a, "activity") for a in as_list(body.get("activities", []), "acts")]
            return max((_activity_id(a) for a in acts), default=0)

    def _os_patches(self, device_id: str, call: str) -> list[tuple[str, str]]:
        """(patch id, NinjaOne status) of every not-installed patch on the device."""
        page = self.http.get(f"/v2/device/{seg(device_id)}/os-patches", call=call)
        with parsing(self.integration, call):
            return [
                (opt_str(p, "kbNumber") or req_str(p, "id"), opt_str(p, "status").upper())
                for p in _results(page.body)
            ]

    # ------------------------------------------------------------------ actions
    def apply_patches(
        self, device_id: str, patch_ids: list[str], *, reboot: bool, idempotency_key: str
    ) -> Job:
        """Install the device's approved pending patches, which must be exactly those asked for.

        NinjaOne installs every approved pending patch of the device and nothing else, so an
        asked-for patch that is not approved, or an approved one that was not asked for (a
        quarantined patch), is refused before anything is sent. NinjaOne's patch policy decides
        the reboot; ``reboot`` is recorded in the job.
        """
        call = "apply_patches"
        rows = self._os_patches(device_id, call)
        approved = {pid for pid, status in rows if status == "APPROVED"}
        awaiting = {pid for pid, status in rows if status == "MANUAL"}
        missing = sorted(set(patch_ids) - approved - awaiting)
        if missing:
            raise NotFound(
                f"patches not pending on device {device_id}: {', '.join(missing)}",
                integration=self.integration,
                call=call,
            )
        unapproved = sorted(set(patch_ids) & awaiting)
        if unapproved:
            raise RequestRejected(
                f"patches awaiting approval in NinjaOne on device {device_id} (apply would not "
                f"install them): {', '.join(unapproved)}",
                integration=self.integration,
                call=call,
            )
        extra = sorted(approved - set(patch_ids))
        if extra:
            raise RequestRejected(
                f"apply would also install approved patches not asked for on device {device_id}: "
                f"{', '.join(extra)}; reject them in NinjaOne (device or policy override) first",
                integration=self.integration,
                call=call,
            )
        started = self.http.hooks.now()
        baseline = self._baseline(device_id, call)
        self.http.request(
            "POST",
            f"/v2/device/{seg(device_id)}/patch/os/apply",
            call=call,
            idempotent=False,
            idempotency_key=idempotency_key,
        )
        detail = f"patches={','.join(sorted(patch_ids))} reboot={'policy' if reboot else 'no'}"
        return self._job(device_id, "patch", started, baseline, idempotency_key, detail)

    def reboot(self, device_id: str, *, idempotency_key: str) -> Job:
        """Normal (not forced) reboot."""
        started = self.http.hooks.now()
        baseline = self._baseline(device_id, "reboot")
        self.http.request(
            "POST",
            f"/v2/device/{seg(device_id)}/reboot/NORMAL",
            call="reboot",
            idempotent=False,
            json_body={"reason": f"opshand change {idempotency_key}"},
            idempotency_key=idempotency_key,
        )
        return self._job(device_id, "reboot", started, baseline, idempotency_key, "mode=NORMAL")

    def run_script(
        self, device_id: str, script_id: str, params: dict[str, str], *, idempotency_key: str
    ) -> Job:
        """Run a library script by id; parameters are passed as quoted ``name=value`` pairs."""
        if not script_id.isdigit():
            raise NotFound(
                f"NinjaOne script ids are numeric; no script {script_id!r}",
                integration=self.integration,
                call="run_script",
            )
        started = self.http.hooks.now()
        baseline = self._baseline(device_id, "run_script")
        parameters = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(params.items()))
        self.http.request(
            "POST",
            f"/v2/device/{seg(device_id)}/script/run",
            call="run_script",
            idempotent=False,
            json_body={
                "type": "SCRIPT",
                "id": int(script_id),
                "parameters": parameters,
                "runAs": self._run_as,
            },
            idempotency_key=idempotency_key,
        )
        return self._job(
            device_id, "script", started, baseline, idempotency_key, f"script={script_id}"
        )

    def _job(
        self, device_id: str, kind: str, started: datetime, baseline: int, key: str, detail: str
    ) -> Job:
        return Job(
            job_id=f"{device_id}:{kind}:{int(started.timestamp())}:{baseline}",
            state="queued",
            target=device_id,
            kind=kind,
            detail=detail,
            idempotency_key=key,
            started_at=started,
        )


def _split_job_id(job_id: str, integration: str) -> tuple[str, str, datetime, int]:
    """(device, kind, started, baseline activity id); ids from before baselines carry ``0``."""
    parts = job_id.split(":")
    if len(parts) == 3:
        parts.append("0")
    if (
        len(parts) != 4
        or parts[1] not in _ACTIVITY_TYPES
        or not parts[2].isdigit()
        or not parts[3].isdigit()
    ):
        raise NotFound(
            f"not a NinjaOne job id: {job_id!r}", integration=integration, call="job_status"
        )
    started = epoch(int(parts[2]))
    assert started is not None
    return parts[0], parts[1], started, int(parts[3])


def _activity_id(act: dict[str, Any]) -> int:
    ident = act.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise Malformed("activity id is not an integer")
    return ident


def _job_from_series(
    job_id: str,
    device_id: str,
    kind: str,
    started: datetime,
    series: list[dict[str, Any]],
    integration: str,
) -> Job:
    """A series ends on its first activity with a result (or a cancel); until then it runs."""
    with parsing(integration, "job_status"):
        ordered = sorted(series, key=_activity_id)
        state: JobState = "running"
        last = ordered[-1]
        for act in ordered:
            result = opt_str(act, "activityResult").upper()
            code = opt_str(act, "statusCode").upper()
            if result in _RESULT_STATES:
                state, last = _RESULT_STATES[result], act
                break
            if code in _ENDED_WITHOUT_RESULT:
                state, last = "failed", act
                break
        when = epoch(last.get("activityTime"), "activityTime")
        result = opt_str(last, "activityResult") or opt_str(last, "statusCode")
    detail = f"{result}: {opt_str(last, 'message')}" if result else opt_str(last, "message")
    return Job(
        job_id=job_id,
        state=state,
        target=device_id,
        kind=kind,
        detail=detail[:500],
        started_at=started,
        finished_at=when if state in ("succeeded", "failed") else None,
    )


def _results(body: Any) -> list[dict[str, Any]]:
    # Per-device patch endpoints answer a bare array or a {"results": [...]} report page.
    rows = body.get("results") if isinstance(body, dict) else body
    return [as_dict(r, "patch") for r in as_list(rows, "patches")]


def _device(d: dict[str, Any]) -> Device:
    refs = d.get("references") or {}
    os_info = as_dict(d.get("os") or {}, "os")

    def ref_name(key: str) -> str:
        ref = refs.get(key) if isinstance(refs, dict) else None
        return opt_str(ref, "name") if isinstance(ref, dict) else ""

    hostname = opt_str(d, "systemName") or opt_str(d, "dnsName") or opt_str(d, "displayName")
    if not hostname:
        raise Malformed("device has no systemName, dnsName or displayName")
    return Device(
        device_id=req_str(d, "id"),
        hostname=hostname,
        os=opt_str(os_info, "name"),
        online=not bool(d.get("offline", False)),
        client=ref_name("organization"),
        site=ref_name("location"),
        role=ref_name("role") or opt_str(d, "nodeClass"),
        last_boot=epoch(os_info.get("lastBootTime"), "os.lastBootTime"),
        last_seen=epoch(d.get("lastContact"), "lastContact"),
    )


def _patch(device_id: str, p: dict[str, Any], *, installed: bool) -> PatchState:
    status_raw = opt_str(p, "status").upper()
    if installed:
        status = "failed" if status_raw == "FAILED" else "installed"
    else:
        status = "failed" if status_raw == "FAILED" else "pending"
    return PatchState(
        device_id=device_id,
        patch_id=opt_str(p, "kbNumber") or req_str(p, "id"),
        title=opt_str(p, "name"),
        severity=opt_str(p, "severity").lower(),
        status=status,
    )
