"""Veeam Backup & Replication client over its REST API v1 (port 9419).

Auth is the OAuth2 password grant at ``POST /api/oauth2/token``; every request carries the
``x-api-version`` header. Collections answer ``{"data": [...], "pagination": {...}}`` and page
with ``skip``/``limit``. A restore starts a session (``SessionModel``) whose ``state`` and
``result.result`` give the job state.

Two restore modes (option ``restore_mode``); the job's ``detail`` says which one ran:

- ``full`` (default): entire VM restore (``POST /api/v1/restore/vmRestore/vSphere``), the VM's
  disks copied back to production; the restore session's end is the job's end.
- ``instant``: Instant Recovery (``POST /api/v1/restore/instantRecovery/vSphere/vm``) runs the
  VM from the backup repository at once, which is not a finished restore: the VM lives on the
  repository until it is migrated. :meth:`VeeamClient.restore_status` finishes it: once the mount
  is ``Mounted`` it starts the migration to production
  (``POST .../instantRecovery/vSphere/vm/{mountId}/migrate``) and the job succeeds only when the
  instant recovery session has ended after that migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import BackupJob, Job, JobState, RestorePoint
from adapters.vendors._auth import OAuth2Token, WithHeaders
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str, seg

__all__ = ["VeeamClient"]

_IR_PATH = "/api/v1/restore/instantRecovery/vSphere/vm"
_FULL_PATH = "/api/v1/restore/vmRestore/vSphere"
_IR_PREFIX = "ir:"
_RESULT_STATES: dict[str, JobState] = {
    "success": "succeeded",
    "warning": "succeeded",
    "failed": "failed",
}


class VeeamClient:
    """:class:`adapters.contracts.BackupContract` over the Veeam B&R REST API.

    Args:
        base_url: The backup server, e.g. ``https://vbr.example:9419``.
        username: A Veeam REST user.
        password: Its password.
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        api_version: Value of the ``x-api-version`` header.
        restore_mode: ``full`` (entire VM restore) or ``instant`` (Instant Recovery, then
            migration to production).
        page_size: ``limit`` per page.
    """

    integration = "veeam"

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        api_version: str = "1.1-rev2",
        restore_mode: Literal["full", "instant"] = "full",
        page_size: int = 200,
    ) -> None:
        hooks = hooks or HttpHooks()
        token = OAuth2Token(
            "/api/oauth2/token",
            form={"grant_type": "password", "username": username},
            secret_form={"password": password},
            headers={"x-api-version": api_version},
            clock=hooks.clock,
        )
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=WithHeaders(token, {"x-api-version": api_version}),
            hooks=hooks,
        )
        if restore_mode not in ("full", "instant"):
            raise ValueError(f"restore_mode must be 'full' or 'instant', got {restore_mode!r}")
        self._mode = restore_mode
        self._page = page_size

    def __repr__(self) -> str:
        return f"VeeamClient(base_url={str(self.http.base_url)!r})"

    def list_jobs(self) -> list[BackupJob]:
        """Backup jobs with the objects they protect and their last result."""
        jobs = self._all("/api/v1/jobs", "list_jobs", {})
        states = {req_str(s, "id"): s for s in self._all("/api/v1/jobs/states", "list_jobs", {})}
        with parsing(self.integration, "list_jobs"):
            return [_job(j, states.get(req_str(j, "id"), {})) for j in jobs]

    def restore_points(self, object_name: str) -> list[RestorePoint]:
        """Restore points of one protected object, newest first."""
        call = "restore_points"
        rows = self._all("/api/v1/restorePoints", call, {"nameFilter": object_name})
        with parsing(self.integration, call):
            points = [
                RestorePoint(
                    point_id=req_str(r, "id"),
                    object_name=req_str(r, "name"),
                    created_at=_required_time(r, "creationTime"),
                )
                for r in rows
                # nameFilter is a pattern; keep exact matches only.
                if req_str(r, "name").lower() == object_name.lower()
            ]
        return sorted(points, key=lambda p: p.created_at, reverse=True)

    def start_restore(self, point_id: str, *, idempotency_key: str) -> Job:
        """Restore the VM of a restore point to its original location, powered on.

        ``full`` mode copies the VM back; ``instant`` mode starts Instant Recovery, which
        :meth:`restore_status` finishes by migrating the VM to production.
        """
        call = "start_restore"
        instant = self._mode == "instant"
        body: dict[str, Any] = {
            "restorePointId": point_id,
            "type": "OriginalLocation",
            "powerUp": True,
            "reason": f"opshand change {idempotency_key}",
        }
        if instant:
            body |= {"vmTagsRestoreEnabled": True, "nicsEnabled": True}
        answer = self.http.request(
            "POST",
            _IR_PATH if instant else _FULL_PATH,
            call=call,
            idempotent=False,
            json_body=body,
            idempotency_key=idempotency_key,
        )
        job = self._session(answer, call, target=point_id, key=idempotency_key)
        if not instant:
            return job.model_copy(update={"detail": _detail("full VM restore", job.detail)})
        return job.model_copy(
            update={
                "job_id": _IR_PREFIX + job.job_id,
                "state": "queued" if job.state == "queued" else "running",
                "finished_at": None,
                "detail": "instant recovery started; migration to production follows",
            }
        )

    def restore_status(self, job_id: str) -> Job:
        """The restore's state; an instant recovery is migrated here once it is mounted."""
        call = "restore_status"
        if not job_id.startswith(_IR_PREFIX):
            answer = self.http.get(f"/api/v1/sessions/{seg(job_id)}", call=call)
            job = self._session(answer, call, target="", key="")
            return job.model_copy(update={"detail": _detail("full VM restore", job.detail)})
        session_id = job_id[len(_IR_PREFIX) :]
        answer = self.http.get(f"/api/v1/sessions/{seg(session_id)}", call=call)
        ir = self._session(answer, call, target="", key="")
        mount = self._mount(session_id, call)
        state = opt_str(mount, "state").lower() if mount is not None else ""

        def report(job_state: JobState, detail: str) -> Job:
            done = job_state in ("succeeded", "failed")
            return ir.model_copy(
                update={
                    "job_id": job_id,
                    "state": job_state,
                    "detail": detail[:500],
                    "finished_at": ir.finished_at if done else None,
                }
            )

        if ir.state == "failed" or state == "failed":
            why = opt_str(mount, "errorMessage") if mount is not None else ir.detail
            return report("failed", _detail("instant recovery failed", why))
        if mount is None:
            if ir.state == "succeeded":
                # The mount is gone and the session ended well: the migration finished it.
                return report("succeeded", "instant recovery finished by migration to production")
            return report(
                "queued" if ir.state == "queued" else "running", "instant recovery mounting"
            )
        if state == "mounted":
            self.http.request(
                "POST",
                f"{_IR_PATH}/{seg(req_str(mount, 'id'))}/migrate",
                call=call,
                idempotent=False,
                json_body={"type": "OriginalLocation", "powerOn": True},
                idempotency_key=f"migrate-{session_id}",
            )
            return report("running", "instant recovery mounted; migration to production started")
        if state == "mounting":
            return report("running", "instant recovery mounting")
        return report("running", f"instant recovery {state or 'in progress'}; migrating")

    def _mount(self, session_id: str, call: str) -> dict[str, Any] | None:
        """The instant recovery mount started by ``session_id``, if it is still there."""
        for mount in self._all(_IR_PATH, call, {}):
            with parsing(self.integration, call):
                if opt_str(mount, "sessionId") == session_id:
                    return mount
        return None

    # ------------------------------------------------------------------ helpers
    def _session(self, answer: HttpResponse, call: str, *, target: str, key: str) -> Job:
        with parsing(self.integration, call):
            s = as_dict(answer.body, "session")
            state_raw = opt_str(s, "state").lower()
            result = opt_str(as_dict(s.get("result") or {}, "result"), "result").lower()
            state: JobState
            if state_raw == "stopped":
                state = _RESULT_STATES.get(result, "unknown")
            elif state_raw in ("", "starting"):
                state = "queued"
            else:
                state = "running"
            message = opt_str(as_dict(s.get("result") or {}, "result"), "message")
            return Job(
                job_id=req_str(s, "id"),
                state=state,
                target=target or opt_str(s, "resourceId"),
                kind="restore",
                detail=message[:500],
                idempotency_key=key,
                started_at=iso(s.get("creationTime"), "creationTime"),
                finished_at=iso(s.get("endTime"), "endTime") if state_raw == "stopped" else None,
            )

    def _all(
        self, path: str, call: str, params: dict[str, str | int | bool]
    ) -> list[dict[str, Any]]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [
                    as_dict(x, "item") for x in as_list(as_dict(page.body, "page")["data"], "data")
                ]

        def following(page: HttpResponse, seen: int) -> dict[str, str | int | bool] | None:
            body = page.body if isinstance(page.body, dict) else {}
            total = as_dict(body.get("pagination") or {}, "pagination").get("total")
            return {"skip": seen} if isinstance(total, int) and seen < total else None

        return list(
            self.http.paginate(
                path,
                call=call,
                items=items,
                next_request=following,
                params={**params, "skip": 0, "limit": self._page},
            )
        )


def _detail(what: str, message: str) -> str:
    return f"{what}: {message}" if message else what


def _required_time(r: dict[str, Any], key: str) -> datetime:
    value = iso(r.get(key), key)
    if value is None:
        raise ValueError(f"missing field '{key}'")
    return value


def _job(j: dict[str, Any], state: dict[str, Any]) -> BackupJob:
    vms = as_dict(j.get("virtualMachines") or {}, "virtualMachines")
    includes = as_list(vms.get("includes") or [], "includes")
    protects = tuple(
        opt_str(inc, "name") or opt_str(inc, "hostName")
        for inc in (as_dict(i, "include") for i in includes)
    )
    return BackupJob(
        job_id=req_str(j, "id"),
        name=req_str(j, "name"),
        protects=tuple(p for p in protects if p),
        last_result=opt_str(state, "lastResult").lower(),
        last_run=iso(state.get("lastRun"), "lastRun"),
    )
