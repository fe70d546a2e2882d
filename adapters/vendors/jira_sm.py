"""Jira Service Management (Cloud) PSA client.

Issues are read and changed through the platform REST API v3 (``/rest/api/3/issue``,
``/transitions``, ``/search/jql``); comments go through the service desk API
(``/rest/servicedeskapi/request/{key}/comment``) so they can be internal. Auth is Basic with
an account e-mail and API token. Jira has no idempotency header, so a created issue carries the
key as a label (``opshand-<key>``) and :meth:`create_ticket` looks for it first. Descriptions
and comments are Atlassian Document Format; only their text nodes are kept, as data.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.contracts import Ticket
from adapters.errors import RequestRejected
from adapters.vendors._auth import BasicAuth
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["JiraServiceManagementClient"]

_FIELDS = "summary,status,priority,description,comment,labels"
_PRIORITIES = {"critical": "Highest", "high": "High", "moderate": "Medium", "low": "Low"}
_LABEL_SAFE = re.compile(r"[A-Za-z0-9._:-]+")


class JiraServiceManagementClient:
    """:class:`adapters.contracts.PsaContract` over Jira Service Management Cloud.

    Args:
        base_url: The site, e.g. ``https://acme.atlassian.net``.
        email: Account e-mail (the Basic-auth user).
        api_token: Atlassian API token.
        http_client: Injected sync client.
        project_key: Project new issues are created in.
        issue_type: Issue type of new issues.
        close_status: Status :meth:`close` transitions to.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
    """

    integration = "jira_sm"

    def __init__(
        self,
        base_url: str,
        *,
        email: str,
        api_token: SecretStr,
        http_client: httpx.Client,
        project_key: str,
        issue_type: str = "Incident",
        close_status: str = "Resolved",
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=BasicAuth(email, api_token),
            hooks=hooks,
        )
        self._project = project_key
        self._issue_type = issue_type
        self._close_status = close_status

    def __repr__(self) -> str:
        return f"JiraServiceManagementClient(base_url={str(self.http.base_url)!r})"

    def get_ticket(self, ticket_id: str) -> Ticket:
        """One issue by key or id, with its comments."""
        answer = self.http.get(
            f"/rest/api/3/issue/{seg(ticket_id)}", call="get_ticket", params={"fields": _FIELDS}
        )
        with parsing(self.integration, "get_ticket"):
            return _ticket(as_dict(answer.body, "issue"))

    def create_ticket(
        self, title: str, description: str, *, priority: str, idempotency_key: str
    ) -> Ticket:
        """Create an issue, or return the one already created with this key."""
        call = "create_ticket"
        if not _LABEL_SAFE.fullmatch(idempotency_key):
            raise RequestRejected(
                "idempotency key must be letters, digits or ._:-",
                integration=self.integration,
                call=call,
            )
        if priority.lower() not in _PRIORITIES:
            raise RequestRejected(
                f"unknown priority {priority!r}; use one of {sorted(_PRIORITIES)}",
                integration=self.integration,
                call=call,
            )
        label = f"opshand-{idempotency_key}"
        found = self.http.get(
            "/rest/api/3/search/jql",
            call=call,
            params={
                "jql": f'project = "{self._project}" AND labels = "{label}"',
                "fields": _FIELDS,
                "maxResults": 1,
            },
        )
        with parsing(self.integration, call):
            issues = as_list(as_dict(found.body, "body").get("issues", []), "issues")
            if issues:
                return _ticket(as_dict(issues[0], "issue"))
        created = self.http.request(
            "POST",
            "/rest/api/3/issue",
            call=call,
            idempotent=False,
            json_body={
                "fields": {
                    "project": {"key": self._project},
                    "issuetype": {"name": self._issue_type},
                    "summary": title,
                    "description": _adf(description),
                    "priority": {"name": _PRIORITIES[priority.lower()]},
                    "labels": [label],
                }
            },
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            key = req_str(as_dict(created.body, "body"), "key")
        return self.get_ticket(key)

    def comment(self, ticket_id: str, text: str, *, idempotency_key: str) -> Ticket:
        """Add an internal comment (not visible to the customer)."""
        self._comment(ticket_id, text, "comment", idempotency_key)
        return self.get_ticket(ticket_id)

    def update_status(self, ticket_id: str, status: str, *, idempotency_key: str) -> Ticket:
        """Move the issue to the status named ``status`` through an available transition."""
        self._transition(ticket_id, status, "update_status", idempotency_key)
        return self.get_ticket(ticket_id)

    def escalate(self, ticket_id: str, reason: str, *, idempotency_key: str) -> Ticket:
        """Raise priority to *Highest*, label it ``escalated`` and comment the reason."""
        self.http.request(
            "PUT",
            f"/rest/api/3/issue/{seg(ticket_id)}",
            call="escalate",
            idempotent=True,
            json_body={
                "fields": {"priority": {"name": "Highest"}},
                "update": {"labels": [{"add": "escalated"}]},
            },
            idempotency_key=idempotency_key,
        )
        self._comment(ticket_id, f"Escalated: {reason}", "escalate", f"{idempotency_key}-note")
        return self.get_ticket(ticket_id)

    def close(self, ticket_id: str, resolution: str, *, idempotency_key: str) -> Ticket:
        """Comment the resolution, then transition to :attr:`close_status`."""
        self._comment(ticket_id, f"Resolution: {resolution}", "close", f"{idempotency_key}-note")
        self._transition(ticket_id, self._close_status, "close", idempotency_key)
        return self.get_ticket(ticket_id)

    # ------------------------------------------------------------------ helpers
    def _comment(self, ticket_id: str, text: str, call: str, key: str) -> None:
        self.http.request(
            "POST",
            f"/rest/servicedeskapi/request/{seg(ticket_id)}/comment",
            call=call,
            idempotent=False,
            json_body={"body": text, "public": False},
            idempotency_key=key,
        )

    def _transition(self, ticket_id: str, status: str, call: str, key: str) -> None:
        current = self.get_ticket(ticket_id)
        if current.status == _norm(status):
            return  # already there: nothing to do, and Jira would refuse the transition
        answer = self.http.get(f"/rest/api/3/issue/{seg(ticket_id)}/transitions", call=call)
        with parsing(self.integration, call):
            options = [
                as_dict(t, "transition")
                for t in as_list(as_dict(answer.body, "body")["transitions"], "transitions")
            ]
            match = next(
                (
                    t
                    for t in options
                    if _norm(opt_str(as_dict(t.get("to") or {}, "to"), "name")) == _norm(status)
                ),
                None,
            )
        if match is None:
            raise RequestRejected(
                f"no transition from {current.status!r} to {status!r}",
                integration=self.integration,
                call=call,
            )
        self.http.request(
            "POST",
            f"/rest/api/3/issue/{seg(ticket_id)}/transitions",
            call=call,
            idempotent=False,
            json_body={"transition": {"id": req_str(match, "id")}},
            idempotency_key=key,
        )


def _norm(status: str) -> str:
    """Status names as the contract spells them: ``In Progress`` -> ``in_progress``."""
    return "_".join(status.lower().split())


def _adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document, one paragraph per line."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _text(node: Any) -> str:
    """The text of an ADF node (or a plain string, as the service desk API returns)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return opt_str(node, "text")
    parts = [_text(child) for child in node.get("content") or []]
    joiner = "\n" if node.get("type") == "doc" else ""
    return joiner.join(parts)


def _ticket(issue: dict[str, Any]) -> Ticket:
    fields = as_dict(issue["fields"], "fields")
    labels = [str(x) for x in as_list(fields.get("labels") or [], "labels")]
    comments = as_dict(fields.get("comment") or {}, "comment").get("comments") or []
    return Ticket(
        ticket_id=req_str(issue, "id"),
        number=req_str(issue, "key"),
        title=opt_str(fields, "summary"),
        status=_norm(opt_str(as_dict(fields.get("status") or {}, "status"), "name")),
        priority=opt_str(as_dict(fields.get("priority") or {}, "priority"), "name").lower(),
        description=_text(fields.get("description")),
        escalated="escalated" in labels,
        comments=tuple(
            _text(as_dict(c, "comment").get("body")) for c in as_list(comments, "comments")
        ),
    )
