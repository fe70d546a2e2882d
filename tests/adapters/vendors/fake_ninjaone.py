"""A stateful fake of NinjaOne's public API v2, built from its published OpenAPI spec.

Source: NinjaOne Public API 2.0 OpenAPI, version 2.0.9 (https://app.ninjarmm.com/apidocs/,
mirrored at github.com/JunknerdGit/NinjaOneAPI ``ninjaone-api-core-resources.yaml``); trimmed
paths in ``specs/ninjaone.json``. What the fake takes from it:

- ``GET /v2/device/{id}/os-patches`` answers a bare array of ``OSPatch`` whose ``status`` is
  ``MANUAL`` | ``APPROVED`` | ``FAILED`` | ``REJECTED`` ("pending/rejected/approved" patches).
- ``POST /v2/device/{id}/patch/os/apply`` answers 204 and installs every *approved* pending
  patch of the device; there is no per-patch apply and no public call to reject a patch.
- ``GET /v2/device/{id}/activities`` answers ``NodeActivitiesResponse`` (``lastActivityId``,
  ``lastNodeActivityId``, ``activities``), filtered by ``newerThan`` (activity id), ``activityType``
  and ``seriesUid``, newest first. Each ``Activity`` has ``id``, ``activityTime`` (epoch seconds),
  ``activityType``, ``statusCode`` (``STARTED`` ... ``COMPLETED``), ``activityResult``
  (``SUCCESS`` | ``FAILURE`` | ``UNSUPPORTED`` | ``UNCOMPLETED``) and ``seriesUid`` (job UID).
  (The spec's prose for ``newerThan``/``olderThan`` reads swapped; the names are what clients use.)
- A job logs a start activity at once and its result activity ``duration`` seconds later; other
  jobs of the same type (a policy's scheduled scan) log their own series alongside.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of


class FakeNinjaOne(FakeVendor):
    token_paths = ("/ws/oauth/token",)
    TOKEN = "ninja-access-1"

    def register(self) -> None:
        t = int(self.time.wall.timestamp())
        self.devices: list[dict[str, Any]] = [
            {
                "id": i,
                "organizationId": 1,
                "locationId": 2,
                "nodeClass": "WINDOWS_SERVER",
                "displayName": f"Server {i}",
                "systemName": f"SRV-{i:02d}",
                "dnsName": f"srv-{i:02d}.corp.example",
                "offline": i == 3,
                "lastContact": t - 60,
                "os": {"name": "Windows Server 2022 Standard", "lastBootTime": t - 86400},
                "references": {
                    "organization": {"id": 1, "name": "Acme"},
                    "location": {"id": 2, "name": "HQ"},
                    "role": {"id": 5, "name": "Database"},
                },
            }
            for i in (1, 2, 3)
        ]
        self.devices[1]["systemName"] = INJECTED[:40]
        self.patches: dict[int, list[dict[str, Any]]] = {
            1: [
                _os_patch("a1b2", "KB5034441", "2026-02 Cumulative Update", "CRITICAL", "APPROVED"),
                _os_patch("c3d4", "KB2267602", "Defender update", "IMPORTANT", "MANUAL"),
                _os_patch("f7a8", "KB5035000", "Preview rollup", "OPTIONAL", "REJECTED"),
            ]
        }
        self.installed: dict[int, list[dict[str, Any]]] = {
            1: [
                {
                    **_os_patch("e5f6", "KB5031539", "Servicing stack", "IMPORTANT", "INSTALLED"),
                    "installedAt": float(t - 7 * 86400),
                }
            ]
        }
        self.activities: dict[int, list[dict[str, Any]]] = {
            1: [self._record(1, "SYSTEM", "COMPLETED", "SUCCESS", "agent check-in", when=t - 600)]
        }
        self.scheduled: list[tuple[float, dict[str, Any]]] = []
        # What the next job of each activity type ends with, and after how many seconds.
        self.outcome: dict[str, str] = {}
        self.duration = 20.0
        self.route("POST", r"/ws/oauth/token", self.token)
        self.route("GET", r"/v2/devices-detailed", self.list_devices)
        self.route("GET", r"/v2/device/(?P<dev>[^/]+)/os-patches", self.os_patches)
        self.route("GET", r"/v2/device/(?P<dev>[^/]+)/os-patch-installs", self.os_installs)
        self.route("POST", r"/v2/device/(?P<dev>[^/]+)/patch/os/apply", self.apply)
        self.route("POST", r"/v2/device/(?P<dev>[^/]+)/reboot/(?P<mode>NORMAL|FORCED)", self.reboot)
        self.route("POST", r"/v2/device/(?P<dev>[^/]+)/script/run", self.script)
        self.route("GET", r"/v2/device/(?P<dev>[^/]+)/activities", self.list_activities)

    def authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.TOKEN}"

    def error(self, status, message):
        return httpx.Response(
            status, json={"resultCode": "FAILURE", "errorMessage": message, "incidentId": "x1"}
        )

    def token(self, request):
        form = form_of(request)
        if form != {
            "grant_type": "client_credentials",
            "client_id": "ninja-client",
            "client_secret": "ninja-secret",
            "scope": "monitoring management control",
        }:
            return httpx.Response(401, json={"error": "invalid_client"})
        return ok(
            {
                "access_token": self.TOKEN,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": form["scope"],
            }
        )

    # ------------------------------------------------------------------ activity log
    _next_id = 5000

    def _record(
        self,
        dev: int,
        kind: str,
        code: str,
        result: str | None,
        message: str,
        *,
        series: str | None = None,
        when: float | None = None,
    ) -> dict[str, Any]:
        FakeNinjaOne._next_id += 1
        act: dict[str, Any] = {
            "id": FakeNinjaOne._next_id,
            "activityTime": when if when is not None else self.time.wall.timestamp(),
            "deviceId": dev,
            "severity": "NONE",
            "priority": "NONE",
            "seriesUid": series or str(uuid.uuid4()),
            "activityType": kind,
            "statusCode": code,
            "status": code.title(),
            "message": message,
        }
        if result is not None:
            act["activityResult"] = result
        return act

    def start_job(self, dev: int, kind: str, *, result: str | None = None) -> str:
        """Log a job's start now and its result ``duration`` seconds later; returns its series."""
        series = str(uuid.uuid4())
        self.activities.setdefault(dev, []).append(
            self._record(dev, kind, "STARTED", None, f"{kind} started", series=series)
        )
        outcome = result or self.outcome.get(kind, "SUCCESS")
        due = self.time.wall.timestamp() + self.duration
        self.scheduled.append((due, {"dev": dev, "kind": kind, "series": series, "r": outcome}))
        return series

    def _materialise(self) -> None:
        now = self.time.wall.timestamp()
        for due, job in [j for j in self.scheduled if j[0] <= now]:
            self.scheduled.remove((due, job))
            code = "CANCELLED" if job["r"] == "CANCELLED" else "COMPLETED"
            result = None if code == "CANCELLED" else job["r"]
            self.activities.setdefault(job["dev"], []).append(
                self._record(
                    job["dev"], job["kind"], code, result, f"{job['kind']} {job['r'].lower()}",
                    series=job["series"], when=due,
                )
            )  # fmt: skip
            if job["kind"] == "PATCH_MANAGEMENT" and result == "SUCCESS":
                self._install_approved(job["dev"])

    def _install_approved(self, dev: int) -> None:
        approved = [p for p in self.patches.get(dev, []) if p["status"] == "APPROVED"]
        for p in approved:
            self.patches[dev].remove(p)
            done = {**p, "status": "INSTALLED", "installedAt": self.time.wall.timestamp()}
            self.installed.setdefault(dev, []).append(done)

    # ------------------------------------------------------------------ routes
    def _dev(self, dev: str) -> int | None:
        return (
            int(dev) if dev.isdigit() and any(d["id"] == int(dev) for d in self.devices) else None
        )

    def list_devices(self, request):
        size = int(request.url.params["pageSize"])
        after = int(request.url.params.get("after", "0"))
        return ok([d for d in self.devices if d["id"] > after][:size])

    def os_patches(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self._materialise()
        rows = self.patches.get(d, [])
        if status := request.url.params.get("status"):
            rows = [p for p in rows if p["status"] == status]
        return ok(rows)

    def os_installs(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self._materialise()
        return ok(self.installed.get(d, []))

    def apply(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self.start_job(d, "PATCH_MANAGEMENT")
        return httpx.Response(204)

    def reboot(self, request, dev, mode):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self.start_job(d, "ACTION")
        return httpx.Response(204)

    def script(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        if not isinstance(body_of(request).get("id"), int):
            return self.error(400, "script id must be a number")
        self.start_job(d, "SCRIPTING")
        return httpx.Response(204)

    def list_activities(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self._materialise()
        q = request.url.params
        size = int(q.get("pageSize", "200"))
        if not 10 <= size <= 1000:
            return self.error(400, "pageSize must be between 10 and 1000")
        acts = sorted(self.activities.get(d, []), key=lambda a: a["id"], reverse=True)
        if "newerThan" in q:
            acts = [a for a in acts if a["id"] > int(q["newerThan"])]
        if "olderThan" in q:
            acts = [a for a in acts if a["id"] < int(q["olderThan"])]
        if "activityType" in q:
            acts = [a for a in acts if a["activityType"] == q["activityType"]]
        if "seriesUid" in q:
            acts = [a for a in acts if a["seriesUid"] == q["seriesUid"]]
        every = self.activities.get(d, [])
        last = max((a["id"] for a in every), default=0)
        return ok({"lastActivityId": last, "lastNodeActivityId": last, "activities": acts[:size]})


def _os_patch(pid: str, kb: str, name: str, severity: str, status: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": f"{name} ({kb})",
        "kbNumber": kb,
        "severity": severity,
        "status": status,
        "type": "SECURITY_UPDATES",
    }
