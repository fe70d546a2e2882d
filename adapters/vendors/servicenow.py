"""ServiceNow PSA client over the Table API (``/api/now/table/incident``).

Auth is HTTP Basic or OAuth 2.0 against the instance's ``/oauth_token.do``: client credentials
(``client_id`` + ``client_secret``; Washington DC and later, with the inbound client-credentials
grant enabled), the password grant (client + ``username``/``password``) or a refresh token
obtained once (client + ``refresh_token``). Access tokens live 30 minutes by default: the
token is renewed before expiry, through the refresh token when the instance issued one, and a
401 drops it and retries the call once with a new one.

ServiceNow has no idempotency header, so every created incident carries the idempotency key
in ``correlation_id`` and :meth:`create_ticket` looks it up first: a retried create after an
ambiguous outcome finds the first one.
Work notes are journal entries; they are read back from ``sys_journal_field``.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import Authenticator, HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import Ticket
from adapters.errors import RequestRejected
from adapters.vendors._auth import BasicAuth, OAuth2Token
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["ServiceNowClient"]

_TABLE = "/api/now/table/incident"
_FIELDS = (
    "sys_id,number,short_description,description,state,priority,company,escalation,"
    "correlation_id,parent_incident"
)
# Incident state choice values in a stock instance.
_STATE_NAMES = {
    "1": "new",
    "2": "in_progress",
    "3": "on_hold",
    "6": "resolved",
    "7": "closed",
    "8": "canceled",
}
_STATE_CODES = {name: code for code, name in _STATE_NAMES.items()}
# Priority is computed from impact x urgency; these pairs give priorities 1..4.
_PRIORITY_TO_IMPACT_URGENCY = {
    "critical": ("1", "1"),
    "high": ("1", "2"),
    "moderate": ("2", "2"),
    "low": ("3", "3"),
}
_PRIORITY_NAMES = {"1": "critical", "2": "high", "3": "moderate", "4": "low", "5": "planning"}


class ServiceNowClient:
    """:class:`adapters.contracts.PsaContract` over the ServiceNow Table API.

    Args:
        base_url: The instance, e.g. ``https://acme.service-now.com``.
        username: Basic-auth user, or the user of the OAuth password grant.
        password: Its password.
        http_client: Injected sync client.
        client_id: OAuth client id (Application Registry); OAuth instead of Basic when given.
        client_secret: OAuth client secret.
        refresh_token: A refresh token obtained once (instead of ``username``/``password``).
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        close_code: Resolution code written when closing.
    """

    integration = "servicenow"
    API_CHECKED = "Table API and OAuth /oauth_token.do (Yokohama reference)"
    """The published reference this client was checked against (``opshand adapters check``)."""

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        username: str = "",
        password: SecretStr | None = None,
        client_id: str = "",
        client_secret: SecretStr | None = None,
        refresh_token: SecretStr | None = None,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        close_code: str = "Solution provided",
    ) -> None:
        auth: Authenticator
        clock = (hooks or HttpHooks()).clock
        if client_id or client_secret is not None:
            if not client_id or client_secret is None:
                raise ValueError("ServiceNow OAuth needs both client_id and client_secret")
            form = {"client_id": client_id}
            secrets = {"client_secret": client_secret}
            if refresh_token is not None:
                form["grant_type"] = "refresh_token"
                secrets["refresh_token"] = refresh_token
            elif username and password is not None:
                form |= {"grant_type": "password", "username": username}
                secrets["password"] = password
            else:
                form["grant_type"] = "client_credentials"
            auth = OAuth2Token(
                "/oauth_token.do", form=form, secret_form=secrets, clock=clock, use_refresh=True
            )
        elif password is not None and username:
            auth = BasicAuth(username, password)
        else:
            raise ValueError(
                "ServiceNow needs username+password, or client_id+client_secret (OAuth)"
            )
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=auth,
            hooks=hooks,
        )
        self._close_code = close_code

    def __repr__(self) -> str:
        return f"ServiceNowClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ reads
    def get_ticket(self, ticket_id: str) -> Ticket:
        """One incident by ``sys_id`` with its work notes, oldest first."""
        answer = self.http.get(
            f"{_TABLE}/{seg(ticket_id)}",
            call="get_ticket",
            params={
                "sysparm_fields": _FIELDS,
                "sysparm_display_value": "false",
                "sysparm_exclude_reference_link": "true",
            },
        )
        notes = self.http.get(
            "/api/now/table/sys_journal_field",
            call="get_ticket",
            params={
                "sysparm_query": f"element_id={ticket_id}^element=work_notes^ORDERBYsys_created_on",
                "sysparm_fields": "value,sys_created_on",
                "sysparm_limit": 200,
            },
        )
        return self._ticket(answer, "get_ticket", notes)

    def list_tickets(self, *, query: str = "active=true", page_size: int = 100) -> list[Ticket]:
        """Incidents matching an encoded query, paged with ``sysparm_limit/offset``."""
        call = "list_tickets"

        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return as_list(as_dict(page.body, "body")["result"], "result")

        def following(page: HttpResponse, seen: int) -> dict[str, str | int | bool] | None:
            rows = page.body.get("result") if isinstance(page.body, dict) else None
            return (
                {"sysparm_offset": seen}
                if isinstance(rows, list) and len(rows) == page_size
                else None
            )

        rows = self.http.paginate(
            _TABLE,
            call=call,
            items=items,
            next_request=following,
            params={
                "sysparm_query": query,
                "sysparm_fields": _FIELDS,
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": page_size,
                "sysparm_offset": 0,
            },
        )
        with parsing(self.integration, call):
            return [_ticket(as_dict(r, "incident"), ()) for r in rows]

    # ------------------------------------------------------------------ writes
    def create_ticket(
        self, title: str, description: str, *, priority: str, idempotency_key: str
    ) -> Ticket:
        """Create an incident, or return the one already created with this key."""
        call = "create_ticket"
        existing = self.http.get(
            _TABLE,
            call=call,
            params={
                "sysparm_query": f"correlation_id={idempotency_key}",
                "sysparm_fields": _FIELDS,
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": 1,
            },
        )
        with parsing(self.integration, call):
            found = as_list(as_dict(existing.body, "body")["result"], "result")
            if found:
                return _ticket(as_dict(found[0], "incident"), ())
        if priority.lower() not in _PRIORITY_TO_IMPACT_URGENCY:
            raise RequestRejected(
                f"unknown priority {priority!r}; use one of {sorted(_PRIORITY_TO_IMPACT_URGENCY)}",
                integration=self.integration,
                call=call,
            )
        impact, urgency = _PRIORITY_TO_IMPACT_URGENCY[priority.lower()]
        answer = self.http.request(
            "POST",
            _TABLE,
            call=call,
            idempotent=False,
            params={"sysparm_exclude_reference_link": "true"},
            json_body={
                "short_description": title,
                "description": description,
                "impact": impact,
                "urgency": urgency,
                "correlation_id": idempotency_key,
                "correlation_display": "opshand",
            },
            idempotency_key=idempotency_key,
        )
        return self._ticket(answer, call)

    def comment(self, ticket_id: str, text: str, *, idempotency_key: str) -> Ticket:
        """Append a work note (a journal entry: not idempotent)."""
        return self._patch(
            ticket_id, {"work_notes": text}, "comment", idempotency_key, idempotent=False
        )

    def update_status(self, ticket_id: str, status: str, *, idempotency_key: str) -> Ticket:
        """Set the incident state by name (``new``, ``in_progress``, ``on_hold``...)."""
        code = _STATE_CODES.get(status.lower().replace(" ", "_"))
        if code is None:
            raise RequestRejected(
                f"unknown status {status!r}; use one of {sorted(_STATE_CODES)}",
                integration=self.integration,
                call="update_status",
            )
        # Setting a field to a value is harmless to repeat.
        return self._patch(
            ticket_id, {"state": code}, "update_status", idempotency_key, idempotent=True
        )

    def escalate(self, ticket_id: str, reason: str, *, idempotency_key: str) -> Ticket:
        """Raise escalation to high and urgency to 1, with the reason as a work note."""
        fields = {"escalation": "2", "urgency": "1", "work_notes": f"Escalated: {reason}"}
        return self._patch(ticket_id, fields, "escalate", idempotency_key, idempotent=False)

    def close(self, ticket_id: str, resolution: str, *, idempotency_key: str) -> Ticket:
        """Resolve the incident with a close code and notes (ServiceNow closes it later)."""
        fields = {"state": "6", "close_code": self._close_code, "close_notes": resolution}
        return self._patch(ticket_id, fields, "close", idempotency_key, idempotent=True)

    # ------------------------------------------------------------------ helpers
    def _patch(
        self, ticket_id: str, fields: dict[str, str], call: str, key: str, *, idempotent: bool
    ) -> Ticket:
        answer = self.http.request(
            "PATCH",
            f"{_TABLE}/{seg(ticket_id)}",
            call=call,
            idempotent=idempotent,
            params={"sysparm_exclude_reference_link": "true", "sysparm_fields": _FIELDS},
            json_body=fields,
            idempotency_key=key,
        )
        self._ticket(answer, call)  # validates the answer's shape
        # The PATCH answer leaves journal fields empty; read back to include the work notes.
        return self.get_ticket(ticket_id)

    def _ticket(self, answer: HttpResponse, call: str, notes: HttpResponse | None = None) -> Ticket:
        with parsing(self.integration, call):
            record = as_dict(as_dict(answer.body, "body")["result"], "result")
            comments: tuple[str, ...] = ()
            if notes is not None:
                rows = as_list(as_dict(notes.body, "body")["result"], "result")
                comments = tuple(opt_str(as_dict(r, "note"), "value") for r in rows)
            return _ticket(record, comments)


def _ticket(r: dict[str, Any], comments: tuple[str, ...]) -> Ticket:
    state = opt_str(r, "state")
    priority = opt_str(r, "priority")
    return Ticket(
        ticket_id=req_str(r, "sys_id"),
        number=req_str(r, "number"),
        title=opt_str(r, "short_description"),
        status=_STATE_NAMES.get(state, state),
        priority=_PRIORITY_NAMES.get(priority, priority),
        description=opt_str(r, "description"),
        client=opt_str(r, "company"),
        escalated=opt_str(r, "escalation", "0") not in ("", "0"),
        incident_ref=opt_str(r, "parent_incident"),
        comments=comments,
    )
