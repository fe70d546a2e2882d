"""Microsoft Sentinel client over Azure Resource Manager (``Microsoft.SecurityInsights``).

Auth is OAuth2 client credentials at ``login.microsoftonline.com/{tenant}`` for the ARM audience.
Everything lives under the workspace's resource id
(``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/
{ws}``) with ``api-version`` (SecurityInsights stable ``2024-03-01``).

- Alerts are Sentinel *incidents* (``.../providers/Microsoft.SecurityInsights/incidents``,
  ``nextLink`` paging, ``$filter`` on ``properties/status``). Acknowledging sets the incident
  ``Active`` with a ``PUT`` that carries the incident's ``etag``, so a concurrent edit is not
  overwritten (412 -> conflict).
- Rules are analytics rules (``.../alertRules/{id}``). Sentinel's throttle is the scheduled
  rule's *suppression*: ``suppressionEnabled`` + ``suppressionDuration`` (ISO 8601, 5 minutes
  to 24 hours) stops the rule's query running for that long after it generates an alert. It is
  rule-wide: Sentinel cannot suppress per field values, so a throttle with ``fields`` is
  refused, as is a period Sentinel does not allow. The setting stays after the period until
  lifted (a past ``until`` lifts it).
- Search runs read-only KQL through the workspace's ``api/query`` endpoint; management
  commands (a leading ``.``) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions
from adapters.contracts import Alert, SiemRule
from adapters.errors import RequestRejected
from adapters.vendors._auth import MICROSOFT_LOGIN, microsoft_app_http
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str, seg

__all__ = ["SentinelClient"]

_ARM = "https://management.azure.com"
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_MIN_SUPPRESSION = timedelta(minutes=5)
_MAX_SUPPRESSION = timedelta(hours=24)
_STATUS = {"new": "New", "in_progress": "Active", "active": "Active", "closed": "Closed"}


class SentinelClient:
    """:class:`adapters.contracts.SiemContract` over the Sentinel (SecurityInsights) ARM API.

    Args:
        tenant_id: Directory (tenant) id.
        client_id: App registration's client id (Microsoft Sentinel Responder or better).
        client_secret: Its secret.
        subscription_id: Subscription of the Log Analytics workspace.
        resource_group: Its resource group.
        workspace: The workspace name.
        http_client: Injected sync client.
        base_url: ARM endpoint (sovereign clouds differ).
        token_base_url: Identity platform endpoint.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        api_version: SecurityInsights API version.
        query_api_version: Workspace query API version.
    """

    integration = "sentinel"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        subscription_id: str,
        resource_group: str,
        workspace: str,
        http_client: httpx.Client,
        base_url: str = _ARM,
        token_base_url: str = MICROSOFT_LOGIN,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        api_version: str = "2024-03-01",
        query_api_version: str = "2017-10-01",
    ) -> None:
        self.http = microsoft_app_http(
            http_client,
            integration=self.integration,
            base_url=base_url,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            token_base_url=token_base_url,
            options=options,
            hooks=hooks,
        )
        self._workspace = (
            f"/subscriptions/{seg(subscription_id)}/resourceGroups/{seg(resource_group)}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{seg(workspace)}"
        )
        self._si = f"{self._workspace}/providers/Microsoft.SecurityInsights"
        self._version = api_version
        self._query_version = query_api_version

    def __repr__(self) -> str:
        return f"SentinelClient(workspace={self._workspace!r})"

    # ------------------------------------------------------------------ alerts
    def list_alerts(self, *, status: str | None = None) -> list[Alert]:
        """Incidents, optionally only those with one status (``new``, ``in_progress``...)."""
        call = "list_alerts"
        params: dict[str, str | int | bool] = {"api-version": self._version, "$top": 200}
        if status is not None:
            wanted = _STATUS.get(status.lower())
            if wanted is None:
                return []
            params["$filter"] = f"properties/status eq '{wanted}'"
        rows = self._all(f"{self._si}/incidents", call, params)
        with parsing(self.integration, call):
            return [_alert(r) for r in rows]

    def acknowledge(self, alert_id: str, *, idempotency_key: str) -> Alert:
        """Set the incident ``Active`` (etag-guarded); an active incident stays as it is."""
        call = "acknowledge"
        path = f"{self._si}/incidents/{seg(alert_id)}"
        current = self.http.get(path, call=call, params={"api-version": self._version})
        with parsing(self.integration, call):
            incident = as_dict(current.body, "incident")
            props = as_dict(incident["properties"], "properties")
            if opt_str(props, "status") != "New":
                return _alert(incident)
            body = {
                "etag": req_str(incident, "etag"),
                "properties": {
                    "title": req_str(props, "title"),
                    "severity": req_str(props, "severity"),
                    "status": "Active",
                    "description": opt_str(props, "description"),
                },
            }
        answer = self.http.request(
            "PUT", path, call=call, idempotent=True, params={"api-version": self._version},
            json_body=body, idempotency_key=idempotency_key,
        )  # fmt: skip
        with parsing(self.integration, call):
            return _alert(as_dict(answer.body, "incident"))

    # ------------------------------------------------------------------ rules
    def get_rule(self, rule_id: str) -> SiemRule:
        """An analytics rule with its suppression state."""
        call = "get_rule"
        with parsing(self.integration, call):
            return _rule(self._rule_body(rule_id, call))

    def throttle_rule(
        self,
        rule_id: str,
        until: datetime,
        *,
        idempotency_key: str,
        fields: tuple[str, ...] = (),
    ) -> SiemRule:
        """Suppress the rule for ``until`` minus now after each alert; a past ``until`` lifts."""
        call = "throttle_rule"
        if fields:
            raise RequestRejected(
                "Sentinel suppresses a whole analytics rule; it cannot suppress by fields "
                f"({', '.join(fields)})",
                integration=self.integration,
                call=call,
            )
        rule = self._rule_body(rule_id, call)
        with parsing(self.integration, call):
            if opt_str(rule, "kind") != "Scheduled":
                raise RequestRejected(
                    f"only scheduled analytics rules have suppression; {rule_id!r} is "
                    f"{opt_str(rule, 'kind') or 'of no kind'}",
                    integration=self.integration,
                    call=call,
                )
            props = dict(as_dict(rule["properties"], "properties"))
        period = until - self.http.hooks.now()
        if period <= timedelta(0):
            props["suppressionEnabled"] = False
        else:
            if not _MIN_SUPPRESSION <= period <= _MAX_SUPPRESSION:
                raise RequestRejected(
                    "Sentinel suppression lasts 5 minutes to 24 hours; asked for "
                    f"{int(period.total_seconds() // 60)} minutes",
                    integration=self.integration,
                    call=call,
                )
            props["suppressionEnabled"] = True
            props["suppressionDuration"] = _iso_duration(period)
        # Read-only fields the service fills in must not be sent back.
        for key in ("lastModifiedUtc",):
            props.pop(key, None)
        answer = self.http.request(
            "PUT",
            f"{self._si}/alertRules/{seg(rule_id)}",
            call=call,
            idempotent=True,
            params={"api-version": self._version},
            json_body={"kind": "Scheduled", "etag": rule.get("etag"), "properties": props},
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            return _rule(as_dict(answer.body, "rule"))

    # ------------------------------------------------------------------ search
    def search(self, query: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Run a read-only KQL query on the workspace; at most ``limit`` rows."""
        call = "search"
        text = query.strip()
        if text.startswith(".") or re.search(r"\n\s*\.", text):
            raise RequestRejected(
                "search() is read-only; KQL management commands are not allowed",
                integration=self.integration,
                call=call,
            )
        answer = self.http.request(
            "POST",
            f"{self._workspace}/api/query",
            call=call,
            idempotent=True,
            mutating=False,
            params={"api-version": self._query_version},
            json_body={"query": f"{text}\n| take {int(limit)}"},
        )
        with parsing(self.integration, call):
            tables = as_list(as_dict(answer.body, "body")["tables"], "tables")
            if not tables:
                return []
            first = as_dict(tables[0], "table")
            names = [req_str(as_dict(c, "column"), "name") for c in as_list(first["columns"], "c")]
            rows = [as_list(r, "row") for r in as_list(first["rows"], "rows")]
            return [dict(zip(names, r, strict=True)) for r in rows][:limit]

    # ------------------------------------------------------------------ helpers
    def _rule_body(self, rule_id: str, call: str) -> dict[str, Any]:
        answer = self.http.get(
            f"{self._si}/alertRules/{seg(rule_id, integration=self.integration, call=call)}",
            call=call,
            params={"api-version": self._version},
        )
        with parsing(self.integration, call):
            return as_dict(answer.body, "rule")

    def _all(self, path: str, call: str, params: dict[str, str | int | bool]) -> Iterable[Any]:
        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return [
                    as_dict(x, "item") for x in as_list(as_dict(page.body, "page")["value"], "v")
                ]

        def following(page: HttpResponse, _seen: int) -> str | None:
            link = page.body.get("nextLink") if isinstance(page.body, dict) else None
            return link if isinstance(link, str) else None

        return list(
            self.http.paginate(path, call=call, items=items, next_request=following, params=params)
        )


def _iso_duration(period: timedelta) -> str:
    minutes = int(period.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


def _seconds(duration: str) -> int:
    m = _DURATION.match(duration)
    if m is None:
        raise ValueError(f"suppressionDuration {duration[:20]!r} is not an ISO 8601 duration")
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def _rule(rule: dict[str, Any]) -> SiemRule:
    props = as_dict(rule["properties"], "properties")
    seconds = 0
    until = None
    if props.get("suppressionEnabled") is True:
        seconds = _seconds(opt_str(props, "suppressionDuration", "PT0S"))
        changed = iso(props.get("lastModifiedUtc"), "lastModifiedUtc")
        until = changed + timedelta(seconds=seconds) if changed else None
    return SiemRule(
        rule_id=req_str(rule, "name"),
        name=opt_str(props, "displayName") or req_str(rule, "name"),
        enabled=props.get("enabled") is not False,
        throttled_until=until,
        suppress_period_seconds=seconds,
    )


def _alert(incident: dict[str, Any]) -> Alert:
    props = as_dict(incident["properties"], "properties")
    rules = as_list(props.get("relatedAnalyticRuleIds") or [], "relatedAnalyticRuleIds")
    status = opt_str(props, "status", "New")
    known = ("title", "severity", "status", "relatedAnalyticRuleIds")
    return Alert(
        alert_id=req_str(incident, "name"),
        title=req_str(props, "title"),
        severity=opt_str(props, "severity", "unknown").lower(),
        status={"New": "new", "Active": "in_progress", "Closed": "closed"}.get(
            status, status.lower()
        ),
        rule_id=str(rules[0]).rsplit("/", 1)[-1] if rules else "",
        entity="",
        # Everything else Sentinel says is kept as untrusted field data.
        fields={k: v for k, v in props.items() if k not in known},
    )
