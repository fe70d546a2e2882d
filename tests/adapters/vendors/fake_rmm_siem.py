"""Stateful fakes of NinjaOne (RMM) and Splunk (SIEM).

Response shapes follow each vendor's public API documentation (field names, envelopes,
error bodies); the values are ours.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of


# --------------------------------------------------------------------------- NinjaOne
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
        self.pending: dict[int, list[dict[str, Any]]] = {
            1: [
                {
                    "id": "a1b2",
                    "name": "2026-02 Cumulative Update (KB5034441)",
                    "kbNumber": "KB5034441",
                    "severity": "CRITICAL",
                    "status": "APPROVED",
                    "type": "SECURITY_UPDATES",
                    "deviceId": 1,
                },
                {
                    "id": "c3d4",
                    "name": "Defender update (KB2267602)",
                    "kbNumber": "KB2267602",
                    "severity": "IMPORTANT",
                    "status": "APPROVED",
                    "type": "DEFINITION_UPDATES",
                    "deviceId": 1,
                },
            ]
        }
        self.installed: dict[int, list[dict[str, Any]]] = {
            1: [
                {
                    "id": "e5f6",
                    "name": "Servicing stack (KB5031539)",
                    "kbNumber": "KB5031539",
                    "severity": "IMPORTANT",
                    "status": "INSTALLED",
                    "installedAt": t - 7 * 86400,
                    "deviceId": 1,
                }
            ]
        }
        self.activities: dict[int, list[dict[str, Any]]] = {}
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
        return ok({"results": self.pending.get(d, [])})

    def os_installs(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        return ok({"results": self.installed.get(d, [])})

    def _activity(self, dev: int, kind: str, result: str) -> None:
        acts = self.activities.setdefault(dev, [])
        acts.append(
            {
                "id": 100 + len(acts),
                "activityTime": self.time.wall.timestamp(),
                "deviceId": dev,
                "activityType": kind,
                "activityResult": result,
                "statusCode": "COMPLETED",
                "message": f"{kind} finished",
            }
        )

    def apply(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self._activity(d, "PATCH_MANAGEMENT", "SUCCESS")
        return httpx.Response(204)

    def reboot(self, request, dev, mode):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        self._activity(d, "ACTION", "SUCCESS")
        return httpx.Response(204)

    def script(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        if not isinstance(body_of(request).get("id"), int):
            return self.error(400, "script id must be a number")
        self._activity(d, "SCRIPTING", "SUCCESS")
        return httpx.Response(204)

    def list_activities(self, request, dev):
        if (d := self._dev(dev)) is None:
            return self.error(404, "device not found")
        acts = self.activities.get(d, [])
        return ok(
            {"lastActivityId": acts[-1]["id"] if acts else 0, "activities": list(reversed(acts))}
        )


# --------------------------------------------------------------------------- Splunk
class FakeSplunk(FakeVendor):
    TOKEN = "splunk-token"

    def register(self) -> None:
        self.notables = [
            {
                "event_id": "A1B2C3@@notable@@1a2b",
                "rule_title": "Brute force against vpn-01",
                "rule_name": "Access - Brute Force - Rule",
                "urgency": "high",
                "status_label": "New",
                "search_name": "Access - Brute Force - Rule",
                "dest": "vpn-01",
                "src": "203.0.113.9",
                "_time": "1772441000",
                "comment_from_attacker": INJECTED,
            },
            {
                "event_id": "D4E5F6@@notable@@3c4d",
                "rule_title": "Malware on ws-17",
                "rule_name": "Malware",
                "urgency": "medium",
                "status_label": "Resolved",
                "search_name": "Endpoint - Malware - Rule",
                "dest": "ws-17",
            },
        ]
        self.saved = {
            "Access - Brute Force - Rule": {
                "disabled": False,
                "alert.suppress": "0",
                "alert.suppress.period": "",
                "action.correlationsearch.label": "Brute force",
                "search": "| tstats count ...",
            }
        }
        self.updated = {name: "2026-03-01T10:00:00+00:00" for name in self.saved}
        self.route("POST", r"/services/search/jobs", self.oneshot)
        self.route("POST", r"/services/notable_update", self.notable_update)
        self.route("GET", r"/servicesNS/-/-/saved/searches/(?P<name>[^/]+)", self.get_saved)
        self.route(
            "POST",
            r"/servicesNS/(?P<owner>[^/]+)/(?P<app>[^/]+)/saved/searches/(?P<name>[^/]+)",
            self.post_saved,
        )

    def authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.TOKEN}"

    def error(self, status, message):
        return httpx.Response(status, json={"messages": [{"type": "ERROR", "text": message}]})

    def oneshot(self, request):
        form = form_of(request)
        assert form["exec_mode"] == "oneshot" and form["output_mode"] == "json"
        spl, rows = form["search"], []
        if spl.startswith("search `notable`"):
            rows = list(self.notables)
            if m := re.search(r'lower\(status_label\)="([^"]*)"', spl):
                rows = [r for r in rows if r["status_label"].lower() == m.group(1)]
            if m := re.search(r'event_id="([^"]*)"', spl):
                rows = [r for r in rows if r["event_id"] == m.group(1)]
        else:
            rows = [
                {"_raw": f"event {i}", "host": "web-01", "_time": str(1772441000 + i)}
                for i in range(5)
            ]
        return ok(
            {
                "preview": False,
                "init_offset": 0,
                "messages": [],
                "fields": [],
                "results": rows[: int(form["count"])],
            }
        )

    def notable_update(self, request):
        form = form_of(request)
        hits = [n for n in self.notables if n["event_id"] == form["ruleUIDs"]]
        for n in hits:
            n["status_label"] = {"1": "New", "2": "In Progress", "5": "Resolved"}[form["status"]]
        return ok(
            {
                "success": True,
                "message": f"{len(hits)} event updated successfully",
                "details": {},
                "failure_count": 0,
            }
        )

    def _entry(self, name: str) -> dict[str, Any]:
        return {
            "links": {},
            "origin": "https://splunk.example:8089/servicesNS/-/-/saved/searches",
            "updated": self.updated[name],
            "entry": [
                {
                    "name": name,
                    "id": f"https://splunk.example:8089/servicesNS/admin/SplunkEnterpriseSecuritySuite/saved/searches/{name}",
                    "updated": self.updated[name],
                    "author": "admin",
                    "acl": {
                        "app": "SplunkEnterpriseSecuritySuite",
                        "owner": "admin",
                        "sharing": "global",
                    },
                    "content": dict(self.saved[name]),
                }
            ],
            "paging": {"total": 1, "perPage": 30, "offset": 0},
            "messages": [],
        }

    def get_saved(self, request, name):
        return (
            ok(self._entry(name))
            if name in self.saved
            else self.error(404, f"Could not find object id={name}")
        )

    def post_saved(self, request, owner, app, name):
        if name not in self.saved or (owner, app) != ("admin", "SplunkEnterpriseSecuritySuite"):
            return self.error(404, f"Could not find object id={name}")
        form = form_of(request)
        self.saved[name].update({k: v for k, v in form.items() if k.startswith("alert.")})
        self.updated[name] = self.time.wall.isoformat()
        return ok(self._entry(name))
