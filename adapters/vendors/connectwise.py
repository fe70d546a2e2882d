"""ConnectWise PSA (Manage) client over the REST API 3.0 (``/v4_6_release/apis/3.0``).

Auth is an API member's keys in basic auth (``{company}+{publicKey}:{privateKey}``) plus the
integration's registered ``clientId`` header. Service tickets live under ``/service/tickets``;
changes are JSON Patch documents (``[{"op": "replace", "path": "status", "value": {...}}]``).

A create carries ``externalXRef = opshand:<idempotency key>`` and first looks the key up with
``conditions=externalXRef="..."``, so a retried create after a timeout finds the ticket it made
instead of making a second one. Comments are ticket notes (``/notes``, discussion). Statuses
are per board and found by name (``/service/boards/{id}/statuses``); priorities by name
(``/service/priorities``). Both name maps are options, because every Manage instance names
them its own way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.contracts import Ticket
from adapters.errors import NotFound, RequestRejected
from adapters.vendors._auth import BasicAuth, WithHeaders
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["ConnectWiseClient"]

_API = "/v4_6_release/apis/3.0"
# The marker a note carries so a repeated call with the same key adds nothing.
_MARKER = re.compile(r"\n\[opshand [A-Za-z0-9._:-]+\]$")
DEFAULT_STATUSES: dict[str, str] = {
    "new": "New",
    "in_progress": "In Progress",
    "escalated": "Escalated",
    "resolved": "Completed",
    "closed": "Closed",
}
"""Contract status -> Manage status name on the board."""
DEFAULT_PRIORITIES: dict[str, str] = {
    "critical": "Priority 1 - Emergency Response",
    "high": "Priority 2 - Quick Response",
    "medium": "Priority 3 - Normal Response",
    "low": "Priority 4 - Schedule Maintenance",
}
"""Contract priority -> Manage priority name (Manage's stock names)."""


class ConnectWiseClient:
    """:class:`adapters.contracts.PsaContract` over ConnectWise Manage REST 3.0.

    Args:
        base_url: The Manage site, e.g. ``https://api-na.myconnectwise.net``.
        company_id: The Manage company id used at login.
        public_key: The API member's public key.
        private_key: Its private key.
        client_id: The integration's clientId from the ConnectWise developer portal.
        http_client: Injected sync client.
        board_id: The service board tickets are made on.
        customer_company_id: The company (customer) new tickets belong to.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        statuses: Contract status -> status name on the board.
        priorities: Contract priority -> priority name.
    """

    integration = "connectwise"

    def __init__(
        self,
        base_url: str,
        *,
        company_id: str,
        public_key: str,
        private_key: SecretStr,
        client_id: str,
        http_client: httpx.Client,
        board_id: int,
        customer_company_id: int,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        statuses: Mapping[str, str] | None = None,
        priorities: Mapping[str, str] | None = None,
    ) -> None:
        auth = WithHeaders(
            BasicAuth(f"{company_id}+{public_key}", private_key), {"clientId": client_id}
        )
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url.rstrip("/") + _API,
            options=options,
            auth=auth,
            hooks=hooks,
        )
        self._board = board_id
        self._company = customer_company_id
        self._statuses = {**DEFAULT_STATUSES, **(statuses or {})}
        self._priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self._status_ids: dict[str, int] = {}
        self._priority_ids: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ConnectWiseClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def get_ticket(self, ticket_id: str) -> Ticket:
        """A service ticket and its discussion notes (opshand's key markers left out)."""
        call = "get_ticket"
        if not ticket_id.isdigit():
            # Not a Manage id; still ask Manage (a query that matches nothing), so that a
            # lookup of a foreign id proves the credentials the way any other lookup does.
            self.http.get(
                "service/tickets", call=call, params={"conditions": "id=0", "pageSize": 1}
            )
        tid = _ticket_id(ticket_id, self.integration, call)
        answer = self.http.get(f"service/tickets/{tid}", call=call)
        notes = self._notes(tid, call)
        with parsing(self.integration, call):
            texts = tuple(_MARKER.sub("", n) for n in notes)
            return self._ticket(as_dict(answer.body, "ticket"), texts)

    # ------------------------------------------------------------------ changes
    def create_ticket(
        self, title: str, description: str, *, priority: str, idempotency_key: str
    ) -> Ticket:
        """Create a ticket once per key (found again by ``externalXRef``)."""
        call = "create_ticket"
        xref = f"opshand:{idempotency_key}"[:100]
        found = self.http.get(
            "service/tickets",
            call=call,
            params={"conditions": f'externalXRef="{_quote(xref)}"', "pageSize": 2},
        )
        with parsing(self.integration, call):
            rows = [as_dict(r, "ticket") for r in as_list(found.body, "tickets")]
        if rows:
            return self.get_ticket(req_str(rows[0], "id"))
        if priority not in self._priorities:
            raise RequestRejected(
                f"unknown priority {priority!r}; known: {', '.join(sorted(self._priorities))}",
                integration=self.integration,
                call=call,
            )
        body = {
            "summary": title[:100],
            "initialDescription": description,
            "board": {"id": self._board},
            "company": {"id": self._company},
            "priority": {"id": self._priority_id(priority, call)},
            "externalXRef": xref,
        }
        answer = self.http.request(
            "POST", "service/tickets", call=call, idempotent=False, json_body=body,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        with parsing(self.integration, call):
            return self._ticket(as_dict(answer.body, "ticket"), ())

    def comment(self, ticket_id: str, text: str, *, idempotency_key: str) -> Ticket:
        """Add a discussion note (not internal); a repeat of the same key adds nothing."""
        call = "comment"
        tid = _ticket_id(ticket_id, self.integration, call)
        self.get_ticket(tid)  # NotFound before anything is written
        marked = f"{text}\n[opshand {idempotency_key}]"
        if marked in self._notes(tid, call):
            return self.get_ticket(tid)
        self.http.request(
            "POST",
            f"service/tickets/{tid}/notes",
            call=call,
            idempotent=False,
            json_body={
                "text": marked,
                "detailDescriptionFlag": True,
                "internalAnalysisFlag": False,
                "resolutionFlag": False,
            },
            idempotency_key=idempotency_key,
        )
        return self.get_ticket(tid)

    def update_status(self, ticket_id: str, status: str, *, idempotency_key: str) -> Ticket:
        """Move the ticket to the board's status named for ``status``."""
        call = "update_status"
        tid = _ticket_id(ticket_id, self.integration, call)
        self._patch(tid, "status", {"id": self._status_id(status, call)}, call, idempotency_key)
        return self.get_ticket(tid)

    def escalate(self, ticket_id: str, reason: str, *, idempotency_key: str) -> Ticket:
        """Note the reason, then move the ticket to the escalation status."""
        self.comment(ticket_id, f"Escalated: {reason}", idempotency_key=f"{idempotency_key}-n")
        return self.update_status(ticket_id, "escalated", idempotency_key=idempotency_key)

    def close(self, ticket_id: str, resolution: str, *, idempotency_key: str) -> Ticket:
        """Add the resolution as a resolution note, then close the ticket."""
        call = "close"
        tid = _ticket_id(ticket_id, self.integration, call)
        marked = f"{resolution}\n[opshand {idempotency_key}]"
        if marked not in self._notes(tid, call):
            self.http.request(
                "POST",
                f"service/tickets/{tid}/notes",
                call=call,
                idempotent=False,
                json_body={"text": marked, "detailDescriptionFlag": True, "resolutionFlag": True},
                idempotency_key=f"{idempotency_key}-r",
            )
        return self.update_status(tid, "closed", idempotency_key=idempotency_key)

    # ------------------------------------------------------------------ helpers
    def _notes(self, tid: str, call: str) -> list[str]:
        """The ticket's note texts as stored (with opshand's key markers)."""
        answer = self.http.get(
            f"service/tickets/{tid}/notes", call=call, params={"pageSize": 1000, "orderBy": "id"}
        )
        with parsing(self.integration, call):
            return [opt_str(as_dict(n, "note"), "text") for n in as_list(answer.body, "notes")]

    def _patch(self, tid: str, path: str, value: Any, call: str, key: str) -> None:
        self.http.request(
            "PATCH", f"service/tickets/{tid}", call=call, idempotent=True,
            json_body=[{"op": "replace", "path": path, "value": value}], idempotency_key=key,
        )  # fmt: skip

    def _status_id(self, status: str, call: str) -> int:
        name = self._statuses.get(status)
        if name is None:
            raise RequestRejected(
                f"unknown status {status!r}; known: {', '.join(sorted(self._statuses))}",
                integration=self.integration,
                call=call,
            )
        if not self._status_ids:
            answer = self.http.get(
                f"service/boards/{self._board}/statuses", call=call, params={"pageSize": 1000}
            )
            with parsing(self.integration, call):
                for row in as_list(answer.body, "statuses"):
                    r = as_dict(row, "status")
                    self._status_ids[opt_str(r, "name")] = int(req_str(r, "id"))
        if name not in self._status_ids:
            raise RequestRejected(
                f"board {self._board} has no status named {name!r}",
                integration=self.integration,
                call=call,
            )
        return self._status_ids[name]

    def _priority_id(self, priority: str, call: str) -> int:
        if not self._priority_ids:
            answer = self.http.get("service/priorities", call=call, params={"pageSize": 1000})
            with parsing(self.integration, call):
                for row in as_list(answer.body, "priorities"):
                    r = as_dict(row, "priority")
                    self._priority_ids[opt_str(r, "name")] = int(req_str(r, "id"))
        name = self._priorities[priority]
        if name not in self._priority_ids:
            raise RequestRejected(
                f"Manage has no priority named {name!r}", integration=self.integration, call=call
            )
        return self._priority_ids[name]

    def _ticket(self, t: dict[str, Any], comments: tuple[str, ...]) -> Ticket:
        status_name = opt_str(as_dict(t.get("status") or {}, "status"), "name")
        priority_name = opt_str(as_dict(t.get("priority") or {}, "priority"), "name")
        status = next((k for k, v in self._statuses.items() if v == status_name), "")
        priority = next((k for k, v in self._priorities.items() if v == priority_name), "")
        company = as_dict(t.get("company") or {}, "company")
        return Ticket(
            ticket_id=req_str(t, "id"),
            number=req_str(t, "id"),
            title=req_str(t, "summary"),
            status=status or "_".join(status_name.lower().split()),
            priority=priority or priority_name,
            description=opt_str(t, "initialDescription"),
            client=opt_str(company, "name"),
            escalated=status == "escalated",
            comments=comments,
        )


def _ticket_id(value: str, integration: str, call: str) -> str:
    if not value.isdigit():
        raise NotFound(
            f"ConnectWise ticket ids are numbers; no ticket {value!r}",
            integration=integration,
            call=call,
        )
    return seg(value)


def _quote(value: str) -> str:
    """A value inside a Manage ``conditions`` string literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
