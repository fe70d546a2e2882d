"""A stateful fake of the Veeam Backup & Replication REST API, built from Veeam's reference.

Sources (trimmed paths in ``specs/veeam.json``): Veeam Backup & Replication REST API reference,
https://helpcenter.veeam.com/references/vbr/13/rest/1.1-rev1/tag/Restore (and the Login,
Jobs, Restore Points and Sessions tags); OAuth2 password grant with ``x-api-version``;
collections ``{"data", "pagination"}``; errors ``{"errorCode", "message"}``. What the fake takes:

- Entire VM restore (``POST /api/v1/restore/vmRestore/vSphere``) answers a ``SessionModel``
  that runs to ``Stopped``/``Success``: the VM is back in production.
- Instant Recovery (``POST /api/v1/restore/instantRecovery/vSphere/vm``) answers a session and
  creates a mount (``GET`` lists mounts with ``id``, ``sessionId``, ``state``); the VM runs from
  the repository and the session keeps working until the VM is migrated
  (``POST .../vm/{mountId}/migrate``) or the mount is stopped. Mount states used:
  ``Mounting`` -> ``Mounted`` -> (migration) gone, with the session ending in ``Success``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import FakeVendor, form_of


class FakeVeeam(FakeVendor):
    token_paths = ("/api/oauth2/token",)
    TOKEN = "veeam-access-1"

    def register(self) -> None:
        self.jobs = [
            {
                "id": "j-1",
                "name": "Daily DB",
                "type": "VSphereBackup",
                "isDisabled": False,
                "virtualMachines": {
                    "includes": [
                        {
                            "type": "VirtualMachine",
                            "hostName": "vc-01",
                            "name": "db-prod-01",
                            "objectId": "vm-101",
                        }
                    ]
                },
            },
            {
                "id": "j-2",
                "name": "Weekly files",
                "type": "VSphereBackup",
                "isDisabled": False,
                "virtualMachines": {
                    "includes": [
                        {
                            "type": "VirtualMachine",
                            "hostName": "vc-01",
                            "name": "fs-01",
                            "objectId": "vm-102",
                        }
                    ]
                },
            },
        ]
        self.states = [
            {
                "id": "j-1",
                "name": "Daily DB",
                "type": "VSphereBackup",
                "status": "Inactive",
                "lastResult": "Success",
                "lastRun": "2026-03-02T01:00:00+00:00",
            },
            {
                "id": "j-2",
                "name": "Weekly files",
                "type": "VSphereBackup",
                "status": "Inactive",
                "lastResult": "Failed",
                "lastRun": "2026-02-28T01:00:00+00:00",
            },
        ]
        self.points = [
            {
                "id": f"rp-{i}",
                "name": name,
                "platformName": "VMware",
                "creationTime": f"2026-03-0{i}T01:05:00+00:00",
                "backupId": "b-1",
                "allowedOperations": ["VSphereInstantRecovery"],
            }
            for i, name in ((1, "db-prod-01"), (2, "db-prod-01"), (1, "db-prod-010"))
        ]
        self.sessions: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/api/oauth2/token", self.token)
        self.route("GET", r"/api/v1/jobs", lambda r: self._page(r, self.jobs))
        self.route("GET", r"/api/v1/jobs/states", lambda r: self._page(r, self.states))
        self.route("GET", r"/api/v1/restorePoints", self.restore_points)
        self.mounts: dict[str, dict[str, Any]] = {}
        self.migrations: list[str] = []
        self.route("POST", r"/api/v1/restore/vmRestore/vSphere", self.full_restore)
        self.route("POST", r"/api/v1/restore/instantRecovery/vSphere/vm", self.instant)
        self.route("GET", r"/api/v1/restore/instantRecovery/vSphere/vm", self.list_mounts)
        self.route(
            "POST",
            r"/api/v1/restore/instantRecovery/vSphere/vm/(?P<mid>[^/]+)/migrate",
            self.migrate,
        )
        self.route("GET", r"/api/v1/sessions/(?P<sid>[^/]+)", self.session)

    def authorized(self, request):
        return (
            request.headers.get("authorization") == f"Bearer {self.TOKEN}"
            and request.headers.get("x-api-version") == "1.1-rev2"
        )

    def error(self, status, message):
        return httpx.Response(
            status,
            json={
                "errorCode": {401: "Unauthorized", 404: "NotFound"}.get(status, "BadRequest"),
                "message": message,
            },
        )

    def token(self, request):
        form = form_of(request)
        if request.headers.get("x-api-version") != "1.1-rev2" or form != {
            "grant_type": "password",
            "username": "svc-opshand",
            "password": "veeam-pass",
        }:
            return self.error(401, "Invalid credentials")
        return ok(
            {
                "access_token": self.TOKEN,
                "token_type": "bearer",
                "refresh_token": "r",
                "expires_in": 900,
            }
        )

    def _page(self, request, items: list[dict[str, Any]]) -> httpx.Response:
        skip, limit = int(request.url.params["skip"]), int(request.url.params["limit"])
        chunk = items[skip : skip + min(limit, 2)]
        return ok(
            {
                "data": chunk,
                "pagination": {
                    "total": len(items),
                    "count": len(chunk),
                    "skip": skip,
                    "limit": limit,
                },
            }
        )

    def restore_points(self, request):
        pattern = request.url.params.get("nameFilter", "")
        return self._page(request, [p for p in self.points if p["name"].startswith(pattern)])

    def _new_session(self, name: str, kind: str, point: str) -> dict[str, Any]:
        sid = f"s-{len(self.sessions) + 1}"
        self.sessions[sid] = {
            "id": sid,
            "name": name,
            "sessionType": kind,
            "creationTime": self.time.wall.isoformat(),
            "endTime": None,
            "state": "Starting",
            "progressPercent": 0,
            "result": {"result": "None", "message": "", "isCanceled": False},
            "resourceId": point,
        }
        return self.sessions[sid]

    def _point(self, request) -> str | None:
        b = body_of(request)
        return (
            b["restorePointId"] if b["restorePointId"] in {p["id"] for p in self.points} else None
        )

    def full_restore(self, request):
        if (point := self._point(request)) is None:
            return self.error(404, "Restore point not found")
        return ok(self._new_session("Entire VM Restore", "RestoreVm", point), status=201)

    def instant(self, request):
        if (point := self._point(request)) is None:
            return self.error(404, "Restore point not found")
        s = self._new_session("Instant Recovery", "InstantRecovery", point)
        mid = f"m-{len(self.mounts) + 1}"
        self.mounts[mid] = {
            "id": mid,
            "sessionId": s["id"],
            "state": "Mounting",
            "vmName": "db-prod-01",
            "errorMessage": "",
        }
        return ok(s, status=201)

    def list_mounts(self, request):
        # Each read moves a mount on: Mounting -> Mounted; a migrating mount finishes and goes,
        # ending its instant recovery session (migration is how Instant Recovery is finished).
        for mid, m in list(self.mounts.items()):
            if m["state"] == "Mounting":
                m["state"] = "Mounted"
            elif m["state"] == "Migrating":
                del self.mounts[mid]
                self.sessions[m["sessionId"]].update(
                    state="Stopped",
                    endTime=self.time.wall.isoformat(),
                    result={"result": "Success", "message": "VM migrated", "isCanceled": False},
                )
        return self._page(request, list(self.mounts.values()))

    def migrate(self, request, mid):
        m = self.mounts.get(mid)
        if m is None:
            return self.error(404, "Mount not found")
        if m["state"] != "Mounted":
            return self.error(400, f"Mount is {m['state']}")
        m["state"] = "Migrating"
        self.migrations.append(mid)
        return ok(self._new_session("Quick Migration", "QuickMigration", mid), status=201)

    def session(self, request, sid):
        if sid not in self.sessions:
            return self.error(404, "Session not found")
        s = self.sessions[sid]
        if s["state"] == "Starting":
            s["state"] = "Working"
        elif s["state"] == "Working" and s["sessionType"] != "InstantRecovery":
            # An instant recovery session works until its VM is migrated (or it is stopped).
            s.update(
                state="Stopped",
                endTime=(self.time.wall + timedelta(minutes=5)).isoformat(),
                result={"result": "Success", "message": "VM restored", "isCanceled": False},
            )
        return ok(s)
