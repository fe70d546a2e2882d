"""Datto RMM client over its REST API v2 (``https://<platform>-api.centrastage.net/api/v2``).

Auth: ``POST /auth/oauth/token`` with the password grant, the API key as ``username`` and the
secret key as ``password``, and Datto's public client (``public-client:public``) in basic auth.
Lists page with ``page``/``max`` and answer ``pageDetails.nextPageUrl``.

Datto RMM acts through *components* run as quick jobs (``PUT /device/{uid}/quickjob``): a
reboot, a script, or the patch install component each name a component uid (options). A job
answers ``job.uid``; its state is ``GET /job/{uid}`` (``active``/``completed``) and the device's
result ``GET /job/{uid}/results/{deviceUid}`` (``jobDeploymentStatus``). Patches per device come
from ``GET /device/{uid}/patches`` (``installStatus``).

Datto allows 600 API requests a minute per account; the client keeps its own count over a
sliding minute and waits (with the injected sleep) before it would go over
(``requests_per_minute``), so a patch cycle never spends the account's whole budget.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import Device, Job, JobState, PatchState
from adapters.errors import NotFound, RequestRejected
from adapters.vendors._auth import OAuth2Token
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["DattoRmmClient", "RequestBudget"]

DATTO_REQUESTS_PER_MINUTE = 600
"""Datto RMM's documented API limit per account."""

_KINDS = ("patch", "reboot", "script")
_INSTALLED = frozenset({"installed"})
_FAILED = frozenset({"failed", "installerror", "install_error"})
_NOT_PENDING = frozenset({"ignored", "rejected", "notapproved", "not_approved", "superseded"})
_DEPLOYMENT: dict[str, JobState] = {
    "success": "succeeded",
    "failure": "failed",
    "error": "failed",
    "warning": "succeeded",
    "expired": "failed",
    "cancelled": "failed",
}


class RequestBudget:
    """At most ``limit`` requests in any ``period`` seconds; :meth:`spend` waits for room."""

    def __init__(
        self,
        limit: int,
        *,
        period: float = 60.0,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if limit < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    def spend(self) -> None:
        """Record one request, first waiting until the window has room for it."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.period:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            self._sleep(self.period - (now - self._sent[0]))
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.period:
                self._sent.popleft()
        self._sent.append(now)


class DattoRmmClient:
    """:class:`adapters.contracts.RmmContract` over the Datto RMM API v2.

    Args:
        base_url: The account's API platform, e.g. ``https://merlot-api.centrastage.net``.
        api_key: The API user's key.
        api_secret: Its secret key.
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        patch_component_uid: Component that installs the patches named in its ``KBs`` variable
            (``Reboot`` variable ``true``/``false``); apply is refused without one.
        reboot_component_uid: Component that reboots the device; reboot is refused without one.
        requests_per_minute: This client's share of the account's 600 requests a minute.
        page_size: ``max`` per page (Datto allows up to 250).
    """

    integration = "datto_rmm"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        api_secret: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        patch_component_uid: str = "",
        reboot_component_uid: str = "",
        requests_per_minute: int = DATTO_REQUESTS_PER_MINUTE,
        page_size: int = 250,
    ) -> None:
        hooks = hooks or HttpHooks()
        if requests_per_minute > DATTO_REQUESTS_PER_MINUTE:
            raise ValueError(
                f"requests_per_minute above Datto's {DATTO_REQUESTS_PER_MINUTE} would be refused"
            )
        token = OAuth2Token(
            "/auth/oauth/token",
            form={"grant_type": "password", "username": api_key},
            secret_form={"password": api_secret},
            # Datto's documented public OAuth client, not a secret.
            headers={"Authorization": "Basic cHVibGljLWNsaWVudDpwdWJsaWM="},
            clock=hooks.clock,
        )
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=token,
            hooks=hooks,
        )
        self.budget = RequestBudget(requests_per_minute, clock=hooks.clock, sleep=hooks.sleep)
        self._patch_component = patch_component_uid
        self._reboot_component = reboot_component_uid
        self._page = page_size

    def __repr__(self) -> str:
        return f"DattoRmmClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def list_devices(self) -> list[Device]:
        """Every device of the account (deleted ones left out)."""
        call = "list_devices"
        rows = self._pages("/api/v2/account/devices", "devices", call)
        with parsing(self.integration, call):
            return [_device(d) for d in rows if not d.get("deleted")]

    def patch_status(self, device_id: str) -> list[PatchState]:
        """The device's patch report; ignored or rejected patches are not pending."""
        call = "patch_status"
        rows = self._pages(f"/api/v2/device/{seg(device_id)}/patches", "patches", call)
        states = []
        with parsing(self.integration, call):
            for p in rows:
                status = opt_str(p, "installStatus").lower().replace(" ", "")
                if status in _NOT_PENDING:
                    continue
                states.append(
                    PatchState(
                        device_id=device_id,
                        patch_id=opt_str(p, "kbArticleId") or req_str(p, "patchId"),
                        title=opt_str(p, "title"),
                        severity=opt_str(p, "severity").lower(),
                        status="installed"
                        if status in _INSTALLED
                        else "failed"
                        if status in _FAILED
                        else "pending",
                        reboot_required=bool(p.get("rebootRequired", False)),
                    )
                )
        return states

    def job_status(self, job_id: str) -> Job:
        """The quick job's state and, once it ran, the device's deployment result."""
        call = "job_status"
        job_uid, device_id, kind = _split(job_id, self.integration)
        job = self._get(f"/api/v2/job/{seg(job_uid)}", call)
        with parsing(self.integration, call):
            body = as_dict(job.body, "job")
            status = opt_str(body, "status").lower()
            created = _ms(body.get("dateCreated"))
        if status != "completed":
            return Job(
                job_id=job_id, state="running" if status == "active" else "queued",
                target=device_id, kind=kind, started_at=created, detail=f"job {status}",
            )  # fmt: skip
        result = self._get(f"/api/v2/job/{seg(job_uid)}/results/{seg(device_id)}", call)
        with parsing(self.integration, call):
            res = as_dict(result.body, "result")
            deployment = opt_str(res, "jobDeploymentStatus").lower()
            ran = _ms(res.get("ranOn"))
        return Job(
            job_id=job_id,
            # A completed job without a known result is not a success.
            state=_DEPLOYMENT.get(deployment, "unknown"),
            target=device_id,
            kind=kind,
            detail=f"deployment {deployment or 'unreported'}",
            started_at=created,
            finished_at=ran,
        )

    # ------------------------------------------------------------------ actions
    def apply_patches(
        self, device_id: str, patch_ids: list[str], *, reboot: bool, idempotency_key: str
    ) -> Job:
        """Run the patch component for exactly the asked-for pending patches."""
        call = "apply_patches"
        if not self._patch_component:
            raise RequestRejected(
                "no patch_component_uid configured: Datto RMM installs patches through a "
                "component, so opshand cannot choose which patches to install",
                integration=self.integration,
                call=call,
            )
        pending = {p.patch_id for p in self.patch_status(device_id) if p.status == "pending"}
        missing = sorted(set(patch_ids) - pending)
        if missing:
            raise NotFound(
                f"patches not pending on device {device_id}: {', '.join(missing)}",
                integration=self.integration,
                call=call,
            )
        variables = {"KBs": ",".join(sorted(patch_ids)), "Reboot": str(reboot).lower()}
        return self._quickjob(
            device_id, "patch", self._patch_component, variables, idempotency_key, call
        )

    def reboot(self, device_id: str, *, idempotency_key: str) -> Job:
        """Run the configured reboot component."""
        if not self._reboot_component:
            raise RequestRejected(
                "no reboot_component_uid configured",
                integration=self.integration,
                call="reboot",
            )
        return self._quickjob(
            device_id, "reboot", self._reboot_component, {}, idempotency_key, "reboot"
        )

    def run_script(
        self, device_id: str, script_id: str, params: dict[str, str], *, idempotency_key: str
    ) -> Job:
        """Run component ``script_id`` with ``params`` as its variables."""
        return self._quickjob(device_id, "script", script_id, params, idempotency_key, "run_script")

    # ------------------------------------------------------------------ helpers
    def _get(
        self, path: str, call: str, params: dict[str, str | int | bool] | None = None
    ) -> HttpResponse:
        self.budget.spend()
        return self.http.get(path, call=call, params=params)

    def _pages(self, path: str, key: str, call: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for page in range(self.http.options.max_pages):
            answer = self._get(path, call, {"page": page, "max": self._page})
            with parsing(self.integration, call):
                body = as_dict(answer.body, "page")
                rows += [as_dict(r, key) for r in as_list(body[key], key)]
                details = as_dict(body.get("pageDetails") or {}, "pageDetails")
            if not details.get("nextPageUrl"):
                return rows
        raise RequestRejected(
            f"pagination did not end after {self.http.options.max_pages} pages",
            integration=self.integration,
            call=call,
        )

    def _quickjob(
        self,
        device_id: str,
        kind: str,
        component: str,
        variables: dict[str, str],
        key: str,
        call: str,
    ) -> Job:
        self.budget.spend()
        answer = self.http.request(
            "PUT",
            f"/api/v2/device/{seg(device_id)}/quickjob",
            call=call,
            idempotent=False,
            json_body={
                "jobName": f"opshand {kind} {key}"[:100],
                "jobComponent": {
                    "componentUid": component,
                    "variables": [{"name": k, "value": v} for k, v in sorted(variables.items())],
                },
            },
            idempotency_key=key,
        )
        with parsing(self.integration, call):
            job = as_dict(as_dict(answer.body, "body")["job"], "job")
            uid = req_str(job, "uid")
            created = _ms(job.get("dateCreated"))
        return Job(
            job_id=f"{uid}:{device_id}:{kind}",
            state="queued",
            target=device_id,
            kind=kind,
            detail=f"component={component}",
            idempotency_key=key,
            started_at=created,
        )


def _split(job_id: str, integration: str) -> tuple[str, str, str]:
    parts = job_id.split(":")
    if len(parts) != 3 or parts[2] not in _KINDS or not parts[0] or not parts[1]:
        raise NotFound(
            f"not a Datto RMM job id: {job_id!r}", integration=integration, call="job_status"
        )
    return parts[0], parts[1], parts[2]


def _ms(value: Any) -> datetime | None:
    """Datto's epoch milliseconds as aware UTC."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        raise ValueError("timestamp is not epoch milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC)


def _device(d: dict[str, Any]) -> Device:
    kind = as_dict(d.get("deviceType") or {}, "deviceType")
    return Device(
        device_id=req_str(d, "uid"),
        hostname=req_str(d, "hostname"),
        os=opt_str(d, "operatingSystem"),
        online=bool(d.get("online", False)),
        client=opt_str(d, "siteName"),
        site=opt_str(d, "siteName"),
        role=opt_str(kind, "category"),
        last_boot=_ms(d.get("lastReboot")),
        last_seen=_ms(d.get("lastSeen")),
    )
