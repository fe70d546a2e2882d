"""A stateful fake of ConnectWise PSA (Manage) REST API 3.0, built from ConnectWise's docs.

Sources (trimmed paths in ``specs/connectwise.json``): ConnectWise Developer Network, Manage
REST API 3.0 (https://developer.connectwise.com/Products/ConnectWise_PSA/REST):
authentication (basic ``company+publicKey:privateKey`` and the ``clientId`` header),
``/service/tickets`` (``summary``, ``board``/``status``/``priority``/``company`` references
``{id, name}``, ``initialDescription``, ``externalXRef``), ``conditions`` query syntax
(``field="value"``), JSON Patch updates (``[{"op","path","value"}]``),
``/service/tickets/{id}/notes`` (``text``, ``detailDescriptionFlag``, ``internalAnalysisFlag``,
``resolutionFlag``), ``/service/boards/{id}/statuses`` and ``/service/priorities``. Errors are
``{"code", "message", "errors": [...]}``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from tests.adapters.vendors._fakes import body_of, ok
from tests.adapters.vendors.fakes_base import INJECTED, FakeVendor

API = "/v4_6_release/apis/3.0"
STATUSES = {1: "New", 2: "In Progress", 3: "Escalated", 4: "Completed", 5: "Closed"}
PRIORITIES = {
    7: "Priority 1 - Emergency Response",
    8: "Priority 2 - Quick Response",
    4: "Priority 3 - Normal Response",
    6: "Priority 4 - Schedule Maintenance",
}
_XREF = re.compile(r'^externalXRef="(?P<v>(?:[^"\\]|\\.)*)"$')


class FakeConnectWise(FakeVendor):
    def register(self) -> None:
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self._new(
            {
                "summary": "Backup failed on db-prod-01",
                "initialDescription": INJECTED,
                "board": {"id": 1},
                "company": {"id": 250},
                "priority": {"id": 4},
            }
        )
        self.route("GET", rf"{API}/service/tickets", self.search)
        self.route("POST", rf"{API}/service/tickets", self.create)
        self.route("GET", rf"{API}/service/tickets/(?P<tid>\d+)", self.get)
        self.route("PATCH", rf"{API}/service/tickets/(?P<tid>\d+)", self.patch)
        self.route("GET", rf"{API}/service/tickets/(?P<tid>\d+)/notes", self.get_notes)
        self.route("POST", rf"{API}/service/tickets/(?P<tid>\d+)/notes", self.add_note)
        self.route("GET", rf"{API}/service/boards/(?P<bid>\d+)/statuses", self.statuses)
        self.route("GET", rf"{API}/service/priorities", self.priorities)

    def authorized(self, request):
        pair = base64.b64encode(b"acme+pub-key:cw-private").decode()
        return (
            request.headers.get("authorization") == f"Basic {pair}"
            and request.headers.get("clientid") == "11111111-2222-3333-4444-555555555555"
        )

    def error(self, status, message):
        code = {404: "NotFound", 401: "Unauthorized"}.get(status, "InvalidObject")
        return httpx.Response(status, json={"code": code, "message": message, "errors": []})

    def _new(self, body: dict[str, Any]) -> dict[str, Any]:
        tid = 1000 + len(self.tickets) + 1
        ticket = {
            "id": tid,
            "summary": body["summary"],
            "initialDescription": body.get("initialDescription", ""),
            "board": {"id": body["board"]["id"], "name": "Service Desk"},
            "status": {"id": 1, "name": STATUSES[1]},
            "priority": {"id": body["priority"]["id"], "name": PRIORITIES[body["priority"]["id"]]},
            "company": {"id": body["company"]["id"], "identifier": "Acme", "name": "Acme Corp"},
            "externalXRef": body.get("externalXRef"),
            "_info": {"lastUpdated": self.time.wall.isoformat()},
        }
        self.tickets[tid] = ticket
        self.notes[tid] = []
        return ticket

    def _ticket(self, tid: str) -> dict[str, Any] | None:
        return self.tickets.get(int(tid))

    def search(self, request):
        cond = request.url.params.get("conditions", "")
        if (by_id := re.fullmatch(r"id=(\d+)", cond)) is not None:
            return ok([t for t in self.tickets.values() if t["id"] == int(by_id.group(1))])
        m = _XREF.match(cond)
        if m is None:
            return self.error(400, "unsupported conditions")
        value = m.group("v").replace('\\"', '"').replace("\\\\", "\\")
        return ok([t for t in self.tickets.values() if t["externalXRef"] == value])

    def create(self, request):
        body = body_of(request)
        if not body.get("summary") or body["priority"]["id"] not in PRIORITIES:
            return self.error(400, "invalid ticket")
        return ok(self._new(body), status=201)

    def get(self, request, tid):
        t = self._ticket(tid)
        return ok(t) if t else self.error(404, f"Ticket with id {tid} not found")

    def patch(self, request, tid):
        t = self._ticket(tid)
        if t is None:
            return self.error(404, f"Ticket with id {tid} not found")
        for op in body_of(request):
            if op["op"] != "replace" or op["path"] != "status":
                return self.error(400, "unsupported patch")
            sid = op["value"]["id"]
            if sid not in STATUSES:
                return self.error(400, "invalid status")
            t["status"] = {"id": sid, "name": STATUSES[sid]}
        return ok(t)

    def get_notes(self, request, tid):
        if self._ticket(tid) is None:
            return self.error(404, "not found")
        return ok(self.notes[int(tid)])

    def add_note(self, request, tid):
        if self._ticket(tid) is None:
            return self.error(404, "not found")
        body = body_of(request)
        note = {"id": 500 + len(self.notes[int(tid)]), "ticketId": int(tid), **body}
        self.notes[int(tid)].append(note)
        return ok(note, status=201)

    def statuses(self, request, bid):
        return ok([{"id": i, "name": n, "closedStatus": i == 5} for i, n in STATUSES.items()])

    def priorities(self, request):
        return ok([{"id": i, "name": n} for i, n in PRIORITIES.items()])
