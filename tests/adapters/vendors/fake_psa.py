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


# --------------------------------------------------------------------------- Jira SM
class FakeJira(FakeVendor):
    WORKFLOW = {
        "open": ["In Progress", "Resolved"],
        "in progress": ["Resolved", "Open"],
        "resolved": ["Open"],
    }

    def register(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self._add("VPN down for site B", "Users report " + INJECTED, "High", [])
        self.route("GET", r"/rest/api/3/issue/(?P<key>[^/]+)", self.get)
        self.route("PUT", r"/rest/api/3/issue/(?P<key>[^/]+)", self.edit)
        self.route("POST", r"/rest/api/3/issue", self.create)
        self.route("GET", r"/rest/api/3/search/jql", self.search)
        self.route("GET", r"/rest/api/3/issue/(?P<key>[^/]+)/transitions", self.transitions)
        self.route("POST", r"/rest/api/3/issue/(?P<key>[^/]+)/transitions", self.transition)
        self.route("POST", r"/rest/servicedeskapi/request/(?P<key>[^/]+)/comment", self.comment)

    def authorized(self, request):
        return request.headers.get("authorization") == basic("bot@acme.example", "jira-token")

    def error(self, status, message):
        return httpx.Response(status, json={"errorMessages": [message], "errors": {}})

    def _add(self, summary: str, text: str, priority: str, labels: list[str]) -> dict[str, Any]:
        n = len(self.issues) + 1
        issue = {
            "id": str(10000 + n),
            "key": f"OPS-{n}",
            "self": f"https://acme.atlassian.net/rest/api/3/issue/{10000 + n}",
            "fields": {
                "summary": summary,
                "status": {"name": "Open", "statusCategory": {"key": "new"}},
                "priority": {"name": priority},
                "labels": labels,
                "description": {
                    "type": "doc",
                    "version": 1,
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
                },
                "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
            },
        }
        self.issues[issue["key"]] = issue
        return issue

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.issues.get(key) or next(
            (i for i in self.issues.values() if i["id"] == key), None
        )

    def get(self, request, key):
        issue = self._find(key)
        return (
            ok(issue)
            if issue
            else self.error(404, "Issue does not exist or you do not have permission to see it.")
        )

    def search(self, request):
        m = re.search(r'labels = "([^"]+)"', request.url.params["jql"])
        hits = [i for i in self.issues.values() if m and m.group(1) in i["fields"]["labels"]]
        return ok(
            {"issues": hits[: int(request.url.params.get("maxResults", "50"))], "isLast": True}
        )

    def create(self, request):
        f = body_of(request)["fields"]
        text = "\n".join(c["text"] for p in f["description"]["content"] for c in p["content"])
        issue = self._add(f["summary"], text, f["priority"]["name"], f["labels"])
        return ok({"id": issue["id"], "key": issue["key"], "self": issue["self"]}, status=201)

    def edit(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        b = body_of(request)
        issue["fields"].update(b.get("fields", {}))
        for op in b.get("update", {}).get("labels", []):
            if op["add"] not in issue["fields"]["labels"]:
                issue["fields"]["labels"].append(op["add"])
        return httpx.Response(204)

    def transitions(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        targets = self.WORKFLOW[issue["fields"]["status"]["name"].lower()]
        return ok(
            {
                "expand": "transitions",
                "transitions": [
                    {"id": str(11 + i), "name": f"Move to {t}", "to": {"name": t}}
                    for i, t in enumerate(targets)
                ],
            }
        )

    def transition(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        targets = self.WORKFLOW[issue["fields"]["status"]["name"].lower()]
        idx = int(body_of(request)["transition"]["id"]) - 11
        if not 0 <= idx < len(targets):
            return self.error(400, "Transition id is not valid for this issue.")
        issue["fields"]["status"] = {"name": targets[idx]}
        return httpx.Response(204)

    def comment(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        b = body_of(request)
        comments = issue["fields"]["comment"]["comments"]
        comments.append(
            {
                "id": str(len(comments) + 1),
                "body": {
                    "type": "doc",
                    "version": 1,
                    "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": b["body"]}]}
                    ],
                },
                "jsdPublic": b["public"],
            }
        )
        return ok({"id": str(len(comments)), "body": b["body"], "public": b["public"]}, status=201)
