"""A stateful fake of Jira Cloud (platform REST v3) as Jira Service Management runs on it.

Sources:

* Atlassian's published OpenAPI spec, https://dac-static.atlassian.com/cloud/jira/platform/swagger-v3.v3.json
  (copy of 2025-09 in cfdude/mcp-jira@8bc7903, ``swagger-v3.v3.json``), trimmed into
  ``specs/jira.json``: issue create/get/edit, comments, transitions (``expand=transitions.fields``
  shows each transition screen's fields, ``resolution`` among them), issue properties,
  ``/search/jql`` ("Recent updates might not be immediately visible in the returned search
  results"), ``/priority/search``.
* JSM internal comments: a platform comment with the entity property
  ``sd.public.comment = {"internal": true}`` (developer.atlassian.com, "Jira Service Management
  REST API: comment visibility"); the service desk API (``/rest/servicedeskapi/request/{key}/
  comment``) only knows issues created as customer requests, so it is not offered here.

Search is eventually consistent here too: a created issue becomes visible to ``/search/jql``
only ``INDEX_LAG`` seconds (fake time) after it was created.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic

INDEX_LAG = 5.0
RESOLUTIONS = [
    {"id": "10000", "name": "Done"},
    {"id": "10001", "name": "Won't Do"},
    {"id": "10002", "name": "Duplicate"},
]


class FakeJira(FakeVendor):
    spec = "jira"
    # status -> [(transition id, name, target status, screen requires a resolution)]
    WORKFLOW: dict[str, list[tuple[str, str, str, bool]]] = {
        "open": [
            ("11", "Start progress", "In Progress", False),
            ("21", "Resolve", "Resolved", True),
        ],
        "in progress": [
            ("21", "Resolve", "Resolved", True),
            ("31", "Stop progress", "Open", False),
        ],
        "resolved": [("41", "Reopen", "Open", False)],
    }

    def register(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.indexed_at: dict[str, float] = {}
        self._add("VPN down for site B", "Users report " + INJECTED, "High", [])
        self.indexed_at["OPS-1"] = self.time.mono  # seeded issues are already indexed
        issue = r"/rest/api/3/issue/(?P<key>[^/]+)"
        self.route("GET", issue, self.get)
        self.route("PUT", issue, self.edit)
        self.route("POST", r"/rest/api/3/issue", self.create)
        self.route("GET", r"/rest/api/3/search/jql", self.search)
        self.route("GET", issue + "/transitions", self.transitions)
        self.route("POST", issue + "/transitions", self.transition)
        self.route("POST", issue + "/comment", self.comment)
        self.route("GET", issue + r"/properties/(?P<prop>[^/]+)", self.get_property)

    def authorized(self, request):
        return request.headers.get("authorization") == basic("bot@acme.example", "jira-token")

    def error(self, status, message, errors: dict[str, str] | None = None):
        return httpx.Response(
            status, json={"errorMessages": [message] if message else [], "errors": errors or {}}
        )

    # ------------------------------------------------------------------ state
    def _add(
        self,
        summary: str,
        text: str,
        priority: str,
        labels: list[str],
        properties: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        n = len(self.issues) + 1
        issue = {
            "id": str(10000 + n),
            "key": f"OPS-{n}",
            "self": f"https://acme.atlassian.net/rest/api/3/issue/{10000 + n}",
            "fields": {
                "summary": summary,
                "status": {"name": "Open", "statusCategory": {"key": "new"}},
                "priority": {"name": priority, "id": str(n)},
                "labels": labels,
                "resolution": None,
                "description": {
                    "type": "doc",
                    "version": 1,
                    "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
                },
                "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
            },
            "properties": {p["key"]: p["value"] for p in properties or []},
        }
        self.issues[issue["key"]] = issue
        self.indexed_at[issue["key"]] = self.time.mono + INDEX_LAG
        return issue

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.issues.get(key) or next(
            (i for i in self.issues.values() if i["id"] == key), None
        )

    def _view(self, issue: dict[str, Any], request: httpx.Request) -> dict[str, Any]:
        view = {k: v for k, v in issue.items() if k != "properties"}
        wanted = request.url.params.get("properties", "")
        if wanted:
            view["properties"] = {
                k: v for k, v in issue["properties"].items() if k in wanted.split(",")
            }
        return view

    # ------------------------------------------------------------------ routes
    def get(self, request, key):
        issue = self._find(key)
        if not issue:
            return self.error(404, "Issue does not exist or you do not have permission to see it.")
        return ok(self._view(issue, request))

    def search(self, request):
        m = re.search(r'labels = "([^"]+)"', request.url.params["jql"])
        hits = [
            i
            for i in self.issues.values()
            if m
            and m.group(1) in i["fields"]["labels"]
            and self.indexed_at[i["key"]] <= self.time.mono
        ]
        limit = int(request.url.params.get("maxResults", "50"))
        return ok({"issues": [self._view(i, request) for i in hits[:limit]], "isLast": True})

    def create(self, request):
        body = body_of(request)
        f = body["fields"]
        text = "\n".join(c["text"] for p in f["description"]["content"] for c in p["content"])
        issue = self._add(
            f["summary"], text, f["priority"]["name"], f.get("labels", []), body.get("properties")
        )
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

    def _options(self, issue: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
        return self.WORKFLOW[issue["fields"]["status"]["name"].lower()]

    def transitions(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        expand = "transitions.fields" in request.url.params.get("expand", "")
        out = []
        for tid, name, target, needs_resolution in self._options(issue):
            t: dict[str, Any] = {"id": tid, "name": name, "to": {"name": target}}
            if expand:
                t["fields"] = (
                    {
                        "resolution": {
                            "required": True,
                            "name": "Resolution",
                            "key": "resolution",
                            "operations": ["set"],
                            "allowedValues": RESOLUTIONS,
                        }
                    }
                    if needs_resolution
                    else {}
                )
            out.append(t)
        return ok({"expand": "transitions", "transitions": out})

    def transition(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        body = body_of(request)
        match = next((o for o in self._options(issue) if o[0] == body["transition"]["id"]), None)
        if match is None:
            return self.error(400, "Transition id is not valid for this issue.")
        resolution = (body.get("fields") or {}).get("resolution")
        if match[3]:
            names = {r["name"] for r in RESOLUTIONS}
            if not resolution or resolution.get("name") not in names:
                return self.error(400, "", {"resolution": "Resolution is required."})
            issue["fields"]["resolution"] = resolution
        issue["fields"]["status"] = {"name": match[2]}
        return httpx.Response(204)

    def comment(self, request, key):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        b = body_of(request)
        if not isinstance(b.get("body"), dict) or b["body"].get("type") != "doc":
            return self.error(400, "Comment body is not valid Atlassian Document Format.")
        props = {p["key"]: p["value"] for p in b.get("properties", [])}
        internal = bool(props.get("sd.public.comment", {}).get("internal", False))
        comments = issue["fields"]["comment"]["comments"]
        comment = {"id": str(10100 + len(comments)), "body": b["body"], "jsdPublic": not internal}
        comments.append(comment)
        return ok(comment, status=201)

    def get_property(self, request, key, prop):
        if not (issue := self._find(key)):
            return self.error(404, "Issue does not exist")
        if prop not in issue["properties"]:
            return self.error(404, f"The property with key '{prop}' does not exist.")
        return ok({"key": prop, "value": issue["properties"][prop]})
