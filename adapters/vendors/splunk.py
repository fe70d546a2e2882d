"""Splunk (Enterprise Security) SIEM client over the REST API on the management port.

Alerts are ES notable events read with a one-shot search (``POST /services/search/jobs`` with
``exec_mode=oneshot``) and acknowledged through ``POST /services/notable_update``. Rules are
saved searches (``/servicesNS/-/-/saved/searches/{name}``).

A throttle is Splunk's alert suppression (``savedsearches.conf``): ``alert.suppress = 1`` with
``alert.suppress.period`` suppresses further alerts for that period *after the search fires*,
and, when the search alerts per result (``alert.digest_mode = 0``, as ES correlation searches
do), only repeats with the same values of ``alert.suppress.fields``, which Splunk then
requires. The client sends the fields asked for, or keeps those already on the search, and
refuses a per-result search with neither. Splunk keeps the setting after the period: it is not a
mute that lapses. ``throttled_until`` is read as the entry's ``updated`` time plus the period.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.contracts import Alert, SiemRule
from adapters.errors import NotFound, RequestRejected
from adapters.vendors._auth import HeaderToken
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str, seg

__all__ = ["SplunkClient"]

# SPL commands that write, send or execute. A read-only search() refuses them.
_WRITING_COMMANDS = frozenset(
    {
        "collect", "delete", "dump", "mcollect", "meventcollect", "outputcsv", "outputlookup",
        "outputtext", "run", "script", "sendalert", "sendemail", "tscollect", "map", "rest",
    }
)  # fmt: skip
_PIPED_COMMAND = re.compile(r"\|\s*([A-Za-z_]+)")
_PERIOD = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$")
# notable_update status codes in a stock ES install.
_STATUS_IN_PROGRESS = "2"


class SplunkClient:
    """:class:`adapters.contracts.SiemContract` over Splunk's REST API.

    Args:
        base_url: Management endpoint, e.g. ``https://splunk.example:8089``.
        token: A Splunk authentication token (sent as ``Authorization: Bearer``).
        http_client: Injected sync client.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        app: App namespace the saved searches are updated in.
    """

    integration = "splunk"

    def __init__(
        self,
        base_url: str,
        *,
        token: SecretStr,
        http_client: httpx.Client,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        app: str = "SplunkEnterpriseSecuritySuite",
    ) -> None:
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=HeaderToken(token),
            hooks=hooks,
        )
        self._app = app

    def __repr__(self) -> str:
        return f"SplunkClient(base_url={str(self.http.base_url)!r})"

    # ------------------------------------------------------------------ alerts
    def list_alerts(self, *, status: str | None = None) -> list[Alert]:
        """Notable events, optionally only those with one status (``new``, ``in_progress``...)."""
        spl = "search `notable`"
        if status is not None:
            label = " ".join(status.lower().replace("_", " ").split())
            spl += f' | where lower(status_label)="{_spl_string(label)}"'
        rows = self._oneshot(spl, limit=1000, call="list_alerts")
        with parsing(self.integration, "list_alerts"):
            return [_alert(r) for r in rows]

    def acknowledge(self, alert_id: str, *, idempotency_key: str) -> Alert:
        """Move the notable to *In Progress* with a comment, then read it back."""
        call = "acknowledge"
        answer = self.http.request(
            "POST",
            "/services/notable_update",
            call=call,
            idempotent=True,  # setting the same status twice changes nothing more
            form={
                "ruleUIDs": alert_id,
                "status": _STATUS_IN_PROGRESS,
                "comment": f"Acknowledged by opshand ({idempotency_key})",
                "output_mode": "json",
            },
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            result = as_dict(answer.body, "body")
            if not result.get("success", False):
                raise RequestRejected(
                    f"notable update failed: {opt_str(result, 'message')[:200]!r}",
                    integration=self.integration,
                    call=call,
                )
        rows = self._oneshot(
            f'search `notable` | where event_id="{_spl_string(alert_id)}"', limit=1, call=call
        )
        if not rows:
            raise NotFound(
                f"no notable event {alert_id!r}", integration=self.integration, call=call
            )
        with parsing(self.integration, call):
            return _alert(rows[0])

    # ------------------------------------------------------------------ rules
    def get_rule(self, rule_id: str) -> SiemRule:
        """A correlation (saved) search by name with its suppression state."""
        entry = self._saved_search(rule_id, "get_rule")
        with parsing(self.integration, "get_rule"):
            return _rule(entry)

    def throttle_rule(
        self,
        rule_id: str,
        until: datetime,
        *,
        idempotency_key: str,
        fields: tuple[str, ...] = (),
    ) -> SiemRule:
        """Suppress the rule's repeat alerts for ``until`` minus now after each firing, per
        ``fields`` (or the fields already set); a past ``until`` lifts suppression."""
        call = "throttle_rule"
        entry = self._saved_search(rule_id, call)
        with parsing(self.integration, call):
            acl = as_dict(entry.get("acl") or {}, "acl")
            owner = opt_str(acl, "owner", "nobody")
            app = opt_str(acl, "app", self._app)
            content = as_dict(entry["content"], "content")
            per_result = not _flag(content.get("alert.digest_mode", "1"))
            current = _fields(content.get("alert.suppress.fields"))
        for name in fields:
            if not _FIELD.match(name):
                raise RequestRejected(
                    f"not a Splunk field name: {name[:60]!r}",
                    integration=self.integration,
                    call=call,
                )
        group_by = tuple(fields) or current
        seconds = int((until - self.http.hooks.now()).total_seconds())
        form = {"output_mode": "json"}
        if seconds > 0:
            if per_result and not group_by:
                raise RequestRejected(
                    f"saved search {rule_id!r} alerts per result (alert.digest_mode off), so "
                    "Splunk needs alert.suppress.fields; name the fields to suppress repeats "
                    "by (e.g. dest, src, user)",
                    integration=self.integration,
                    call=call,
                )
            form |= {"alert.suppress": "1", "alert.suppress.period": f"{seconds}s"}
            if group_by:
                form["alert.suppress.fields"] = ",".join(group_by)
        else:
            form |= {"alert.suppress": "0"}
        answer = self.http.request(
            "POST",
            f"/servicesNS/{seg(owner)}/{seg(app)}/saved/searches/{seg(rule_id)}",
            call=call,
            idempotent=True,  # a setting, not an append
            form=form,
            idempotency_key=idempotency_key,
        )
        with parsing(self.integration, call):
            return _rule(_first_entry(answer))

    # ------------------------------------------------------------------ search
    def search(self, query: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Run a read-only SPL search; commands that write, send or execute are refused."""
        for command in _PIPED_COMMAND.findall(query):
            if command.lower() in _WRITING_COMMANDS:
                raise RequestRejected(
                    f"search() is read-only; SPL command {command!r} is not allowed",
                    integration=self.integration,
                    call="search",
                )
        stripped = query.strip()
        spl = stripped if stripped.startswith(("|", "search ")) else f"search {stripped}"
        return self._oneshot(spl, limit=limit, call="search")[:limit]

    # ------------------------------------------------------------------ helpers
    def _oneshot(self, spl: str, *, limit: int, call: str) -> list[dict[str, Any]]:
        # A one-shot search creates no saved state: safe to repeat, so it is retried.
        answer = self.http.request(
            "POST",
            "/services/search/jobs",
            call=call,
            idempotent=True,
            mutating=False,
            form={
                "search": spl,
                "exec_mode": "oneshot",
                "count": str(limit),
                "output_mode": "json",
            },
        )
        with parsing(self.integration, call):
            rows = as_list(as_dict(answer.body, "body").get("results", []), "results")
            return [as_dict(r, "result row") for r in rows]

    def _saved_search(self, name: str, call: str) -> dict[str, Any]:
        answer = self.http.get(
            f"/servicesNS/-/-/saved/searches/{seg(name)}", call=call, params={"output_mode": "json"}
        )
        with parsing(self.integration, call):
            return _first_entry(answer)


def _spl_string(value: str) -> str:
    """Escape a value for a double-quoted SPL string, so it stays a literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _first_entry(answer: HttpResponse) -> dict[str, Any]:
    entries = as_list(as_dict(answer.body, "body")["entry"], "entry")
    if not entries:
        raise ValueError("entry list is empty")
    return as_dict(entries[0], "entry")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _fields(value: Any) -> tuple[str, ...]:
    return tuple(f.strip() for f in str(value or "").split(",") if f.strip())


def _rule(entry: dict[str, Any]) -> SiemRule:
    content = as_dict(entry["content"], "content")
    until = None
    seconds = 0
    if _flag(content.get("alert.suppress", "0")):
        match = _PERIOD.match(str(content.get("alert.suppress.period", "")))
        updated = iso(entry.get("updated"), "updated")
        if match:
            seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if match and updated is not None:
            until = updated + timedelta(seconds=seconds)
    return SiemRule(
        rule_id=req_str(entry, "name"),
        name=opt_str(content, "action.correlationsearch.label") or req_str(entry, "name"),
        enabled=not _flag(content.get("disabled", False)),
        throttled_until=until,
        suppress_fields=_fields(content.get("alert.suppress.fields")) if seconds else (),
        suppress_period_seconds=seconds,
    )


_ALERT_KEYS = ("event_id", "rule_title", "rule_name", "urgency", "status_label", "search_name")


def _alert(row: dict[str, Any]) -> Alert:
    # Everything else the notable carries is kept as untrusted field data.
    fields = {k: v for k, v in row.items() if k not in _ALERT_KEYS and not k.startswith("_")}
    entity = next((opt_str(row, k) for k in ("dest", "src", "user") if opt_str(row, k)), "")
    return Alert(
        alert_id=req_str(row, "event_id"),
        title=opt_str(row, "rule_title") or opt_str(row, "rule_name"),
        severity=opt_str(row, "urgency", "unknown").lower(),
        status="_".join(opt_str(row, "status_label", "new").lower().split()),
        rule_id=opt_str(row, "search_name"),
        entity=entity,
        fields=fields,
    )
