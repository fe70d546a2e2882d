"""A stateful fake of Microsoft Sentinel's ARM API, built from Microsoft's REST reference.

Sources (trimmed paths in ``specs/sentinel.json``): Azure REST API reference, Microsoft
Sentinel (SecurityInsights) 2024-03-01, https://learn.microsoft.com/rest/api/securityinsights/:
"Incidents - List/Get/Create Or Update" (``value``/``nextLink``; incident ``name``, ``etag``,
``properties.title``/``severity``/``status`` ``New``|``Active``|``Closed``/``incidentNumber``/
``relatedAnalyticRuleIds``; a PUT must carry ``title``, ``severity``, ``status`` and a stale
``etag`` answers 412) and "Alert Rules - Get/Create Or Update" (``kind`` ``Scheduled``,
``properties.displayName``/``enabled``/``query``/``suppressionEnabled``/
``suppressionDuration`` ISO 8601 ``PT5M``-``PT24H``/``lastModifiedUtc``); Log Analytics query
(``POST {workspace}/api/query`` -> ``tables[{name, columns[{name,type}], rows}]``); errors
``{"error": {"code", "message"}}``; token from ``login.microsoftonline.com/{tenant}``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, form_of

WS = (
    "/subscriptions/sub-1/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights"
    "/workspaces/law-sec"
)
SI = f"{WS}/providers/Microsoft.SecurityInsights"
RULE = "7f2c1e1a-0000-4000-8000-000000000001"
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")


class FakeSentinel(FakeVendor):
    token_paths = ("/oauth2/v2.0/token",)
    TOKEN = "arm-access-1"
    PAGE = 2

    def register(self) -> None:
        self.incidents: dict[str, dict[str, Any]] = {}
        for n, (title, sev, status) in enumerate(
            [
                ("Brute force against vpn-01", "High", "New"),
                ("Malware on ws-17", "Medium", "Closed"),
                (INJECTED, "Low", "New"),
            ],
            start=1,
        ):
            name = f"inc-{n}"
            self.incidents[name] = {
                "id": f"{SI}/incidents/{name}",
                "name": name,
                "etag": f'"e-{n}-1"',
                "type": "Microsoft.SecurityInsights/Incidents",
                "properties": {
                    "title": title,
                    "severity": sev,
                    "status": status,
                    "incidentNumber": n,
                    "description": "",
                    "relatedAnalyticRuleIds": [f"{SI}/alertRules/{RULE}"],
                    "createdTimeUtc": "2026-03-02T08:00:00Z",
                },
            }
        self.rules: dict[str, dict[str, Any]] = {
            RULE: {
                "id": f"{SI}/alertRules/{RULE}",
                "name": RULE,
                "etag": '"r-1"',
                "type": "Microsoft.SecurityInsights/alertRules",
                "kind": "Scheduled",
                "properties": {
                    "displayName": "Brute force (VPN)",
                    "enabled": True,
                    "query": "SigninLogs | where ResultType != 0",
                    "queryFrequency": "PT1H",
                    "queryPeriod": "P1D",
                    "severity": "High",
                    "suppressionDuration": "PT1H",
                    "suppressionEnabled": False,
                    "triggerOperator": "GreaterThan",
                    "triggerThreshold": 5,
                    "lastModifiedUtc": "2026-03-01T10:00:00Z",
                },
            },
            "fusion": {
                "id": f"{SI}/alertRules/fusion",
                "name": "fusion",
                "etag": '"f-1"',
                "kind": "Fusion",
                "properties": {
                    "displayName": "Advanced Multistage Attack Detection",
                    "enabled": True,
                },
            },
        }
        self.queries: list[str] = []
        self.revisions = 0
        self.route("POST", r"/tenant-1/oauth2/v2.0/token", self.token)
        self.route("GET", rf"{SI}/incidents", self.list_incidents)
        self.route("GET", rf"{SI}/incidents/(?P<name>[^/]+)", self.get_incident)
        self.route("PUT", rf"{SI}/incidents/(?P<name>[^/]+)", self.put_incident)
        self.route("GET", rf"{SI}/alertRules/(?P<name>[^/]+)", self.get_rule)
        self.route("PUT", rf"{SI}/alertRules/(?P<name>[^/]+)", self.put_rule)
        self.route("POST", rf"{WS}/api/query", self.query)

    def authorized(self, request):
        return (
            request.url.host == "management.azure.com"
            and request.headers.get("authorization") == f"Bearer {self.TOKEN}"
            and "api-version" in request.url.params
        )

    def error(self, status, message):
        code = {404: "NotFound", 412: "PreconditionFailed", 401: "AuthenticationFailed"}
        return httpx.Response(
            status, json={"error": {"code": code.get(status, "BadRequest"), "message": message}}
        )

    def token(self, request):
        form = form_of(request)
        if (
            form.get("client_secret") != "arm-secret"
            or form.get("scope") != "https://management.azure.com/.default"
        ):
            return httpx.Response(401, json={"error": "invalid_client"})
        return ok({"token_type": "Bearer", "expires_in": 3599, "access_token": self.TOKEN})

    def list_incidents(self, request):
        rows = list(self.incidents.values())
        if m := re.fullmatch(
            r"properties/status eq '(\w+)'", request.url.params.get("$filter", "")
        ):
            rows = [r for r in rows if r["properties"]["status"] == m.group(1)]
        skip = int(request.url.params.get("$skipToken", "0"))
        body: dict[str, Any] = {"value": rows[skip : skip + self.PAGE]}
        if skip + self.PAGE < len(rows):
            link = httpx.URL(f"https://management.azure.com{SI}/incidents").copy_merge_params(
                [*request.url.params.multi_items(), ("$skipToken", str(skip + self.PAGE))]
            )
            body["nextLink"] = str(link)
        return ok(body)

    def get_incident(self, request, name):
        inc = self.incidents.get(name)
        return ok(inc) if inc else self.error(404, f"Incident {name} not found")

    def put_incident(self, request, name):
        inc = self.incidents.get(name)
        if inc is None:
            return self.error(404, "not found")
        body = body_of(request)
        if body.get("etag") != inc["etag"]:
            return self.error(412, "etag does not match")
        props = body["properties"]
        if not all(props.get(k) for k in ("title", "severity", "status")):
            return self.error(400, "title, severity and status are required")
        inc["properties"].update(props)
        n, v = inc["etag"].strip('"').split("-")[1:]
        inc["etag"] = f'"e-{n}-{int(v) + 1}"'
        return ok(inc)

    def get_rule(self, request, name):
        rule = self.rules.get(name)
        return ok(rule) if rule else self.error(404, f"Alert rule {name} not found")

    def put_rule(self, request, name):
        rule = self.rules.get(name)
        body = body_of(request)
        if rule is None or body.get("etag") != rule["etag"]:
            return self.error(412 if rule else 404, "etag does not match")
        props = body["properties"]
        m = _DURATION.match(props.get("suppressionDuration", ""))
        minutes = (int(m.group(1) or 0) * 60 + int(m.group(2) or 0)) if m else -1
        if props.get("suppressionEnabled") and not 5 <= minutes <= 1440:
            return self.error(400, "suppressionDuration must be between PT5M and PT24H")
        rule["properties"] = {**props, "lastModifiedUtc": self.time.wall.isoformat()}
        self.revisions += 1
        rule["etag"] = f'"r-{self.revisions + 1}"'
        return ok(rule)

    def query(self, request):
        q = body_of(request)["query"]
        self.queries.append(q)
        m = re.search(r"\| take (\d+)$", q)
        n = min(int(m.group(1)), 5) if m else 5
        return ok(
            {
                "tables": [
                    {
                        "name": "PrimaryResult",
                        "columns": [
                            {"name": "TimeGenerated", "type": "datetime"},
                            {"name": "Computer", "type": "string"},
                        ],
                        "rows": [[f"2026-03-02T08:0{i}:00Z", "web-01"] for i in range(n)],
                    }
                ]
            }
        )
