"""A stateful fake of a ServiceNow instance: Table API (incident, sys_journal_field) and OAuth.

Sources (``specs/servicenow.json``; ServiceNow publishes no standalone OpenAPI file):

* Table API reference (Yokohama), https://www.servicenow.com/docs/bundle/yokohama-api-reference/
  page/integrate/inbound-rest/concept/c_TableAPI.html: ``{"result": ...}`` envelopes,
  ``sysparm_*`` parameters, error body ``{"error": {"message", "detail"}, "status": "failure"}``.
* OAuth (``/oauth_token.do``, form-encoded): grants ``client_credentials`` (Washington DC and
  later), ``password`` and ``refresh_token``; answers ``access_token``, ``refresh_token``
  (not for client credentials), ``scope``, ``token_type: Bearer``, ``expires_in: 1799``
  (access tokens last 30 minutes by default, refresh tokens 100 days); a refused grant is
  401 ``{"error_description": "access_denied", "error": "server_error"}``. An expired or
  revoked bearer is 401 ``User Not Authenticated``.

Values are ours.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor, basic, form_of

ACCESS_LIFETIME = 1799
CLIENT = ("sn-client", "sn-client-secret")


# --------------------------------------------------------------------------- ServiceNow
class FakeServiceNow(FakeVendor):
    spec = "servicenow"
    token_paths = ("/oauth_token.do",)
    STATES = {"1", "2", "3", "6", "7", "8"}

    def register(self) -> None:
        self.access: dict[str, float] = {}  # bearer -> expiry (fake monotonic time)
        self.refresh_tokens: set[str] = {"sn-refresh-0"}
        self.grants: list[str] = []
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
        self.route("POST", r"/oauth_token.do", self.token)

    def authorized(self, request):
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            expiry = self.access.get(header.removeprefix("Bearer "))
            return expiry is not None and self.time.mono < expiry
        return header == basic("opshand", "sn-pass")

    def revoke_access_tokens(self) -> None:
        """An admin revoked the tokens (or the instance restarted its OAuth state)."""
        self.access.clear()

    def token(self, request):
        form = form_of(request)
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        denied = httpx.Response(
            401, json={"error_description": "access_denied", "error": "server_error"}
        )
        if (form.get("client_id"), form.get("client_secret")) != CLIENT:
            return denied
        if grant == "password":
            if (form.get("username"), form.get("password")) != ("opshand", "sn-pass"):
                return denied
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return denied
        elif grant != "client_credentials":
            return httpx.Response(
                400, json={"error_description": "unsupported_grant_type", "error": "invalid_grant"}
            )
        n = len(self.grants)
        bearer = f"sn-access-{n}"
        self.access[bearer] = self.time.mono + ACCESS_LIFETIME
        answer = {"access_token": bearer, "scope": "useraccount", "token_type": "Bearer",
                  "expires_in": ACCESS_LIFETIME}  # fmt: skip
        if grant != "client_credentials":
            refresh = f"sn-refresh-{n}"
            self.refresh_tokens.add(refresh)
            answer["refresh_token"] = refresh
        return ok(answer)

    def error(self, status, message):
        if status == 401:
            message, detail = "User Not Authenticated", "Required to provide Auth information"
        else:
            detail = ""
        return httpx.Response(
            status, json={"error": {"message": message, "detail": detail}, "status": "failure"}
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
