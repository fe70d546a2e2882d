"""Stateful fakes of ServiceNow and Jira Service Management (PSA).

Response shapes follow each vendor's public API documentation (field names, envelopes,
error bodies); the values are ours.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic


# --------------------------------------------------------------------------- ServiceNow
class FakeServiceNow(FakeVendor):
    spec = "servicenow"
    STATES = {"1", "2", "3", "6", "7", "8"}

    def register(self) -> None:
        self.incidents: dict[str, dict[str, Any]] = {}
        self.journal: list[dict[str, str]] = []
        self._add(
            {
                "short_description": "Disk full on db-prod-01",
                "description": INJECTED,
                "state": "1",
                "priority": "2",
                "company": "c0mp4ny",
                "escalation": "0",
                "correlation_id": "",
                "parent_incident": "",
            }
        )
        self.route("GET", r"/api/now/table/incident", self.query)
        self.route("POST", r"/api/now/table/incident", self.create)
        self.route("GET", r"/api/now/table/incident/(?P<sid>[^/]+)", self.get)
        self.route("PATCH", r"/api/now/table/incident/(?P<sid>[^/]+)", self.patch)
        self.route("GET", r"/api/now/table/sys_journal_field", self.notes)

    def authorized(self, request):
        return request.headers.get("authorization") == basic("opshand", "sn-pass")

    def error(self, status, message):
        return httpx.Response(
            status, json={"error": {"message": message, "detail": ""}, "status": "failure"}
        )

    def _add(self, fields: dict[str, Any]) -> dict[str, Any]:
        sid = f"{len(self.incidents) + 1:032x}"
        rec = {"sys_id": sid, "number": f"INC{len(self.incidents) + 10001:07d}", **fields}
        self.incidents[sid] = rec
        return rec

    def query(self, request):
        q = request.url.params.get("sysparm_query", "")
        rows = list(self.incidents.values())
        if q.startswith("correlation_id="):
            rows = [r for r in rows if r["correlation_id"] == q.split("=", 1)[1]]
        limit = int(request.url.params.get("sysparm_limit", "10000"))
        offset = int(request.url.params.get("sysparm_offset", "0"))
        return ok({"result": rows[offset : offset + limit]})

    def create(self, request):
        b = body_of(request)
        priority = {("1", "1"): "1", ("1", "2"): "2", ("2", "2"): "3", ("3", "3"): "4"}[
            (b["impact"], b["urgency"])
        ]
        rec = self._add(
            {
                "short_description": b["short_description"],
                "description": b["description"],
                "state": "1",
                "priority": priority,
                "company": "",
                "escalation": "0",
                "correlation_id": b.get("correlation_id", ""),
                "parent_incident": "",
            }
        )
        return ok({"result": rec}, status=201)

    def get(self, request, sid):
        if sid not in self.incidents:
            return self.error(404, "No Record found")
        return ok({"result": self.incidents[sid]})

    def patch(self, request, sid):
        if sid not in self.incidents:
            return self.error(404, "No Record found")
        rec = self.incidents[sid]
        for key, value in body_of(request).items():
            if key == "work_notes":
                self.journal.append(
                    {"element_id": sid, "value": value, "sys_created_on": "2026-03-02 09:00:00"}
                )
            elif key == "state" and value not in self.STATES:
                return self.error(400, "Invalid state")
            else:
                rec[key] = value
        return ok({"result": rec})

    def notes(self, request):
        m = re.match(
            r"element_id=([0-9a-f]+)\^element=work_notes", request.url.params["sysparm_query"]
        )
        assert m, "journal query must filter by element_id and work_notes"
        return ok(
            {
                "result": [
                    {"value": n["value"], "sys_created_on": n["sys_created_on"]}
                    for n in self.journal
                    if n["element_id"] == m.group(1)
                ]
            }
        )
