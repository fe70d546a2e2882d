"""NinjaOne RMM client (public API v2, OAuth2 client credentials).

Endpoints used: ``POST /ws/oauth/token``, ``GET /v2/devices-detailed`` (cursor ``after``),
``GET /v2/device/{id}/os-patches``, ``GET /v2/device/{id}/os-patch-installs``,
``POST /v2/device/{id}/patch/os/apply``, ``POST /v2/device/{id}/reboot/{mode}``,
``POST /v2/device/{id}/script/run`` and ``GET /v2/device/{id}/activities``.

NinjaOne answers the action calls without a job id, so the job id this client returns encodes
the device, the kind and the start time; :meth:`job_status` reads the device's activity log
for the newest matching activity since then.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import Device, Job, JobState, PatchState
from adapters.errors import NotFound
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
_RESULT_STATES: dict[str, JobState] = {"SUCCESS": "succeeded", "FAILURE": "failed"}


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
        """Pending patches plus installed/failed ones from the install history."""
        call = "patch_status"
        pending = self.http.get(f"/v2/device/{seg(device_id)}/os-patches", call=call)
        installs = self.http.get(f"/v2/device/{seg(device_id)}/os-patch-installs", call=call)
        with parsing(self.integration, call):
            states = [_patch(device_id, p, installed=False) for p in _results(pending.body)]
            states += [_patch(device_id, p, installed=True) for p in _results(installs.body)]
        return states

    def job_status(self, job_id: str) -> Job:
        """Read the device's activity log for the newest activity of the job's kind."""
        call = "job_status"
        device_id, kind, started = _split_job_id(job_id, self.integration)
        page = self.http.get(
            f"/v2/device/{seg(device_id)}/activities", call=call, params={"pageSize": 100}
        )
        with parsing(self.integration, call):
            body = as_dict(page.body, "activities page")
            matches = []
            for raw in as_list(body.get("activities", []), "activities"):
                act = as_dict(raw, "activity")
                when = epoch(act.get("activityTime"), "activityTime")
                if when is None or when < started:
                    continue
                if opt_str(act, "activityType") in _ACTIVITY_TYPES[kind]:
                    matches.append((when, act))
        if not matches:
            return Job(
                job_id=job_id, state="queued", target=device_id, kind=kind, started_at=started
            )
        when, newest = max(matches, key=lambda pair: pair[0])
        result = opt_str(newest, "activityResult").upper()
        state = _RESULT_STATES.get(result, "running")
        return Job(
            job_id=job_id,
            state=state,
            target=device_id,
            kind=kind,
            detail=opt_str(newest, "message")[:500],
            started_at=started,
            finished_at=when if state in ("succeeded", "failed") else None,
        )

    # ------------------------------------------------------------------ actions
    def apply_patches(
        self, device_id: str, patch_ids: list[str], *, reboot: bool, idempotency_key: str
    ) -> Job:
        """Install the device's approved pending patches, after checking the asked-for ones are
        pending. NinjaOne's patch policy decides the reboot; ``reboot`` is recorded in the job.
        """
        call = "apply_patches"
        pending = {p.patch_id for p in self.patch_status(device_id) if p.status == "pending"}
        missing = sorted(set(patch_ids) - pending)
        if missing:
            raise NotFound(
                f"patches not pending on device {device_id}: {', '.join(missing)}",
                integration=self.integration,
                call=call,
            )
        started = self.http.hooks.now()
        self.http.request(
            "POST",
            f"/v2/device/{seg(device_id)}/patch/os/apply",
            call=call,
            idempotent=False,
            idempotency_key=idempotency_key,
        )
        detail = f"patches={','.join(sorted(patch_ids))} reboot={'policy' if reboot else 'no'}"
        return self._job(device_id, "patch", started, idempotency_key, detail)

    def reboot(self, device_id: str, *, idempotency_key: str) -> Job:
        """Normal (not forced) reboot."""
        started = self.http.hooks.now()
        self.http.request(
            "POST",
            f"/v2/device/{seg(device_id)}/reboot/NORMAL",
            call="reboot",
            idempotent=False,
            json_body={"reason": f"opshand change {idempotency_key}"},
            idempotency_key=idempotency_key,
        )
        return self._job(device_id, "reboot", started, idempotency_key, "mode=NORMAL")

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
        return self._job(device_id, "script", started, idempotency_key, f"script={script_id}")

    def _job(self, device_id: str, kind: str, started: datetime, key: str, detail: str) -> Job:
        return Job(
            job_id=f"{device_id}:{kind}:{int(started.timestamp())}",
            state="queued",
            target=device_id,
            kind=kind,
            detail=detail,
            idempotency_key=key,
            started_at=started,
        )


def _split_job_id(job_id: str, integration: str) -> tuple[str, str, datetime]:
    parts = job_id.split(":")
    if len(parts) != 3 or parts[1] not in _ACTIVITY_TYPES or not parts[2].isdigit():
        raise NotFound(
            f"not a NinjaOne job id: {job_id!r}", integration=integration, call="job_status"
        )
    started = epoch(int(parts[2]))
    assert started is not None
    return parts[0], parts[1], started


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
