"""Jira Service Management (Cloud) PSA client.

Everything goes through the platform REST API v3 (``/rest/api/3/issue``, ``/comment``,
``/transitions``, ``/search/jql``); checked against Atlassian's published spec (2025-09).
Comments are platform comments carrying the ``sd.public.comment`` property
(``{"internal": true}``): JSM shows them to agents only. The service desk API's comment
endpoint only knows issues created as customer requests and answers 404 on the plain issues
this client creates. Auth is Basic with an account e-mail and API token.

Jira has no idempotency header. A created issue carries the key twice: as a label
(``opshand-<key>``, which JQL can find) and as the issue property ``opshand.idempotency``
(``{"key": ...}``, compared exactly, so a label copied by hand never matches). Search is
eventually consistent, so a create whose answer was lost (read timeout, 502/504) is not
repeated: the client looks the key up again a few times, waiting between, and only then reports
an ambiguous outcome. Priorities map both ways (contract ``critical/high/moderate/low`` <->
Jira names). A transition whose screen requires a resolution is sent one.
Descriptions and comments are Atlassian Document Format; only their text nodes are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions, ResilientHttp
from adapters.contracts import Ticket
from adapters.errors import AmbiguousOutcome, RequestRejected
from adapters.vendors._auth import BasicAuth
from adapters.vendors._parse import as_dict, as_list, opt_str, parsing, req_str, seg

__all__ = ["JiraServiceManagementClient"]

_FIELDS = "summary,status,priority,description,comment,labels"
DEFAULT_PRIORITIES: Mapping[str, str] = {
    "critical": "Highest",
    "high": "High",
    "moderate": "Medium",
    "low": "Low",
}
"""Contract priority -> Jira priority name, for a stock Jira Cloud priority scheme."""
_EXTRA_PRIORITY_NAMES = {"lowest": "low"}  # stock names with no contract value of their own
_LABEL_SAFE = re.compile(r"[A-Za-z0-9._:-]+")
_KEY_PROPERTY = "opshand.idempotency"
_INTERNAL = {"key": "sd.public.comment", "value": {"internal": True}}
# Seconds to wait between look-ups after a create whose answer was lost (search lags).
_LOOKUP_WAITS = (1.0, 2.0, 4.0, 8.0)


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
        resolution: Resolution sent when a transition screen requires one.
        priorities: Contract priority -> Jira priority name (the site's scheme).
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
    """

    integration = "jira_sm"
    API_CHECKED = "Jira Cloud platform REST v3 (Atlassian OpenAPI, 2025-09)"
    """The published spec this client was checked against (``opshand adapters check``)."""

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
        resolution: str = "Done",
        priorities: Mapping[str, str] | None = None,
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
        self._resolution = resolution
        self._priorities = dict(priorities or DEFAULT_PRIORITIES)
        self._from_jira = {v.lower(): k for k, v in self._priorities.items()}
        for name, value in _EXTRA_PRIORITY_NAMES.items():
            self._from_jira.setdefault(name, value)
        # Keys this client created, and the issue each made: exact and immediate.
        self._created: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"JiraServiceManagementClient(base_url={str(self.http.base_url)!r})"

    def get_ticket(self, ticket_id: str) -> Ticket:
        """One issue by key or id, with its comments."""
        answer = self.http.get(
            f"/rest/api/3/issue/{seg(ticket_id)}", call="get_ticket", params={"fields": _FIELDS}
        )
        with parsing(self.integration, "get_ticket"):
            return self._ticket(as_dict(answer.body, "issue"))

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
        if priority.lower() not in self._priorities:
            raise RequestRejected(
                f"unknown priority {priority!r}; use one of {sorted(self._priorities)}",
                integration=self.integration,
                call=call,
            )
        if (known := self._created.get(idempotency_key)) is not None:
            return self.get_ticket(known)
        if (found := self._lookup(idempotency_key, call)) is not None:
            return found
        try:
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
                        "priority": {"name": self._priorities[priority.lower()]},
                        "labels": [_label(idempotency_key)],
                    },
                    "properties": [{"key": _KEY_PROPERTY, "value": {"key": idempotency_key}}],
                },
                idempotency_key=idempotency_key,
            )
        except AmbiguousOutcome:
            # The issue may exist; search catches up within seconds. Never create blindly.
            for wait in _LOOKUP_WAITS:
                self.http.hooks.sleep(wait)
                if (found := self._lookup(idempotency_key, call)) is not None:
                    return found
            raise
        with parsing(self.integration, call):
            key = req_str(as_dict(created.body, "body"), "key")
        self._created[idempotency_key] = key
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
                "fields": {"priority": {"name": self._priorities.get("critical", "Highest")}},
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
    def _lookup(self, key: str, call: str) -> Ticket | None:
        """The issue created with ``key``: found by label, confirmed by the exact property."""
        found = self.http.get(
            "/rest/api/3/search/jql",
            call=call,
            params={
                "jql": f'project = "{self._project}" AND labels = "{_label(key)}"',
                "fields": _FIELDS,
                "properties": _KEY_PROPERTY,
                "maxResults": 10,
            },
        )
        with parsing(self.integration, call):
            for raw in as_list(as_dict(found.body, "body").get("issues", []), "issues"):
                issue = as_dict(raw, "issue")
                props = as_dict(issue.get("properties") or {}, "properties")
                mark = props.get(_KEY_PROPERTY)
                if isinstance(mark, dict) and mark.get("key") == key:
                    self._created[key] = req_str(issue, "key")
                    return self._ticket(issue)
        return None

    def _comment(self, ticket_id: str, text: str, call: str, key: str) -> None:
        self.http.request(
            "POST",
            f"/rest/api/3/issue/{seg(ticket_id)}/comment",
            call=call,
            idempotent=False,
            json_body={"body": _adf(text), "properties": [_INTERNAL]},
            idempotency_key=key,
        )

    def _transition(self, ticket_id: str, status: str, call: str, key: str) -> None:
        current = self.get_ticket(ticket_id)
        if current.status == _norm(status):
            return  # already there: nothing to do, and Jira would refuse the transition
        answer = self.http.get(
            f"/rest/api/3/issue/{seg(ticket_id)}/transitions",
            call=call,
            params={"expand": "transitions.fields"},
        )
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
            if match is not None:
                body: dict[str, Any] = {"transition": {"id": req_str(match, "id")}}
                screen = as_dict(match.get("fields") or {}, "fields")
                wanted = as_dict(screen.get("resolution") or {}, "resolution")
                if wanted.get("required"):
                    body["fields"] = {"resolution": {"name": self._pick_resolution(wanted)}}
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
            json_body=body,
            idempotency_key=key,
        )

    def _pick_resolution(self, field: dict[str, Any]) -> str:
        """The configured resolution if the screen offers it, else the screen's first one."""
        allowed = [
            opt_str(as_dict(v, "allowedValue"), "name")
            for v in as_list(field.get("allowedValues") or [], "allowedValues")
        ]
        for name in allowed:
            if name.lower() == self._resolution.lower():
                return name
        if not allowed:
            return self._resolution
        return allowed[0]

    def _ticket(self, issue: dict[str, Any]) -> Ticket:
        fields = as_dict(issue["fields"], "fields")
        labels = [str(x) for x in as_list(fields.get("labels") or [], "labels")]
        comments = as_dict(fields.get("comment") or {}, "comment").get("comments") or []
        jira_priority = opt_str(as_dict(fields.get("priority") or {}, "priority"), "name")
        return Ticket(
            ticket_id=req_str(issue, "id"),
            number=req_str(issue, "key"),
            title=opt_str(fields, "summary"),
            status=_norm(opt_str(as_dict(fields.get("status") or {}, "status"), "name")),
            priority=self._from_jira.get(jira_priority.lower(), jira_priority.lower()),
            description=_text(fields.get("description")),
            escalated="escalated" in labels,
            comments=tuple(
                _text(as_dict(c, "comment").get("body")) for c in as_list(comments, "comments")
            ),
        )


def _label(key: str) -> str:
    return f"opshand-{key}"


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
