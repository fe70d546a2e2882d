"""A stateful fake of the Datto RMM API v2, built from Datto's published API documentation.

Sources (trimmed paths in ``specs/datto_rmm.json``): Datto RMM API v2 help
(https://rmm.datto.com/help/en/Content/2SETUP/APIv2.htm: password grant at
``/auth/oauth/token`` with the public client ``public-client:public``, the API key and secret
key as username and password; 600 requests a minute per account) and its Swagger UI
(https://merlot-api.centrastage.net/api/swagger-ui/index.html): ``GET /api/v2/account/devices``
(``page``/``max``, ``pageDetails.nextPageUrl``, device ``uid``, ``hostname``,
``operatingSystem``, ``online``, ``siteName``, ``deviceType.category``, ``lastSeen`` and
``lastReboot`` epoch ms), ``GET /api/v2/device/{uid}/patches`` (``patchId``, ``kbArticleId``,
``installStatus``), ``PUT /api/v2/device/{uid}/quickjob`` (``jobName``, ``jobComponent``
``{componentUid, variables:[{name, value}]}`` -> ``{"job": {"uid", "status"...}}``),
``GET /api/v2/job/{uid}`` (``status`` ``active``|``completed``) and
``GET /api/v2/job/{uid}/results/{deviceUid}`` (``jobDeploymentStatus``).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of

COMPONENTS = {"cmp-patch": "Install KBs", "cmp-reboot": "Reboot", "cmp-42": "Collect logs"}


class FakeDatto(FakeVendor):
    token_paths = ("/auth/oauth/token",)
    TOKEN = "datto-access-1"
    PAGE = 2

    def register(self) -> None:
        t = int(self.time.wall.timestamp() * 1000)
        self.devices = [
            {
                "id": i,
                "uid": f"dev-{i}",
                "siteUid": "site-1",
                "siteName": "Acme HQ",
                "deviceType": {"category": "Server", "type": "Main System Chassis"},
                "hostname": f"SRV-{i:02d}" if i != 2 else INJECTED[:40],
                "operatingSystem": "Microsoft Windows Server 2022 Standard",
                "online": i != 3,
                "deleted": i == 4,
                "lastSeen": t - 60_000,
                "lastReboot": t - 86_400_000,
                "patchManagement": {"patchStatus": "InstallError"},
            }
            for i in (1, 2, 3, 4)
        ]
        self.patches: dict[str, list[dict[str, Any]]] = {
            "dev-1": [
                _patch("p-1", "KB5034441", "Missing"),
                _patch("p-2", "KB5031539", "Installed"),
                _patch("p-3", "KB5035000", "Ignored"),
            ]
        }
        self.jobs: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/auth/oauth/token", self.token)
        self.route("GET", r"/api/v2/account/devices", self.list_devices)
        self.route("GET", r"/api/v2/device/(?P<dev>[^/]+)/patches", self.device_patches)
        self.route("PUT", r"/api/v2/device/(?P<dev>[^/]+)/quickjob", self.quickjob)
        self.route("GET", r"/api/v2/job/(?P<job>[^/]+)", self.get_job)
        self.route("GET", r"/api/v2/job/(?P<job>[^/]+)/results/(?P<dev>[^/]+)", self.results)

    def authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.TOKEN}"

    def error(self, status, message):
        return httpx.Response(status, json={"code": status, "message": message})

    def token(self, request):
        basic = "Basic " + base64.b64encode(b"public-client:public").decode()
        form = form_of(request)
        if request.headers.get("authorization") != basic or form != {
            "grant_type": "password",
            "username": "datto-key",
            "password": "datto-secret",
        }:
            return httpx.Response(401, json={"error": "invalid_grant"})
        return ok({"access_token": self.TOKEN, "token_type": "bearer", "expires_in": 359999})

    def _page(self, request, key: str, rows: list[dict[str, Any]], path: str) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["max"])
        size = min(size, self.PAGE, 250)
        chunk = rows[page * size : (page + 1) * size]
        more = (page + 1) * size < len(rows)
        return ok(
            {
                "pageDetails": {
                    "count": len(chunk),
                    "totalCount": len(rows),
                    "prevPageUrl": None,
                    "nextPageUrl": f"https://merlot-api.example{path}?page={page + 1}&max={size}"
                    if more
                    else None,
                },
                key: chunk,
            }
        )

    def _known(self, dev: str) -> bool:
        return any(d["uid"] == dev and not d["deleted"] for d in self.devices)

    def list_devices(self, request):
        return self._page(request, "devices", self.devices, "/api/v2/account/devices")

    def device_patches(self, request, dev):
        if not self._known(dev):
            return self.error(404, "Device not found")
        return self._page(
            request, "patches", self.patches.get(dev, []), f"/api/v2/device/{dev}/patches"
        )

    def quickjob(self, request, dev):
        if not self._known(dev):
            return self.error(404, "Device not found")
        spec = body_of(request)
        component = spec["jobComponent"]["componentUid"]
        if component not in COMPONENTS:
            return self.error(400, "Component not found")
        uid = f"job-{len(self.jobs) + 1}"
        self.jobs[uid] = {
            "id": len(self.jobs) + 1,
            "uid": uid,
            "name": spec["jobName"],
            "dateCreated": int(self.time.wall.timestamp() * 1000),
            "status": "active",
            "device": dev,
            "component": component,
            "variables": {v["name"]: v["value"] for v in spec["jobComponent"]["variables"]},
            "outcome": "success",
        }
        job = {k: self.jobs[uid][k] for k in ("id", "uid", "name", "dateCreated", "status")}
        return ok(
            {"job": job, "jobComponents": [{"uid": component, "name": COMPONENTS[component]}]}
        )

    def get_job(self, request, job):
        if job not in self.jobs:
            return self.error(404, "Job not found")
        j = self.jobs[job]
        if self.time.wall.timestamp() * 1000 - j["dateCreated"] >= 30_000:
            j["status"] = "completed"
        return ok({k: j[k] for k in ("id", "uid", "name", "dateCreated", "status")})

    def results(self, request, job, dev):
        j = self.jobs.get(job)
        if j is None or j["device"] != dev:
            return self.error(404, "Job result not found")
        return ok(
            {
                "jobUid": job,
                "deviceUid": dev,
                "ranOn": j["dateCreated"] + 20_000,
                "jobDeploymentStatus": j["outcome"],
                "componentResults": [
                    {
                        "componentUid": j["component"],
                        "componentName": COMPONENTS[j["component"]],
                        "componentStatus": j["outcome"],
                        "numberOfWarnings": 0,
                        "hasStdOut": True,
                        "hasStdErr": False,
                    }
                ],
            }
        )


def _patch(pid: str, kb: str, status: str) -> dict[str, Any]:
    return {
        "patchId": pid,
        "category": ["Security Updates"],
        "type": "Windows",
        "title": f"Update {kb}",
        "severity": "Critical",
        "rebootRequired": True,
        "kbArticleId": kb,
        "installStatus": status,
        "manualOverride": False,
    }
