"""Stateful fake of Veeam B&R REST (OPNsense: ``fake_opnsense``).

Response shapes follow each vendor's public API documentation; the values are ours.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import FakeVendor, form_of


# --------------------------------------------------------------------------- Veeam
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
        self.route("POST", r"/api/v1/restore/instantRecovery/vSphere/vm", self.restore)
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

    def restore(self, request):
        b = body_of(request)
        if b["restorePointId"] not in {p["id"] for p in self.points}:
            return self.error(404, "Restore point not found")
        sid = f"s-{len(self.sessions) + 1}"
        self.sessions[sid] = {
            "id": sid,
            "name": "Instant Recovery",
            "sessionType": "InstantRecovery",
            "creationTime": self.time.wall.isoformat(),
            "endTime": None,
            "state": "Starting",
            "progressPercent": 0,
            "result": {"result": "None", "message": "", "isCanceled": False},
            "resourceId": b["restorePointId"],
        }
        return ok(self.sessions[sid], status=201)

    def session(self, request, sid):
        if sid not in self.sessions:
            return self.error(404, "Session not found")
        s = self.sessions[sid]
        if s["state"] == "Starting":
            s["state"] = "Working"
        elif s["state"] == "Working":
            s.update(
                state="Stopped",
                endTime=(self.time.wall + timedelta(minutes=5)).isoformat(),
                result={"result": "Success", "message": "VM restored", "isCanceled": False},
            )
        return ok(s)
