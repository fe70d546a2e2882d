"""The sim's SIEM: alerts, rules with throttles, and search over estate events.

A throttle behaves like Splunk's alert suppression: after the rule fires, repeats with the same
values of the rule's suppression fields (``entity`` unless a throttle names others) are
suppressed for the throttle's period; other values still alert. The setting stays on the rule.

Search understands a small query language: whitespace-separated terms, all of which must match;
``field=value`` compares one field exactly, a bare word matches any field containing it
(case-insensitive); ``*`` or an empty query matches everything. Newest events come first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.contracts import Alert, SiemRule
from adapters.errors import AdapterError, NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule
from adapters.sim.state import AlertState, SiemRuleState

__all__ = ["SimSiem", "raise_alert"]


def raise_alert(
    core: SimCore,
    rule_id: str,
    at: datetime,
    *,
    entity: str = "",
    title: str = "",
    severity: str = "medium",
) -> AlertState | None:
    """Fire ``rule_id``; a disabled rule, or a repeat inside a suppression window, is
    swallowed (returns ``None``)."""
    rule = core.siem_rules[rule_id]
    fields = {"entity": entity, "title": title or rule.name, "severity": severity}
    key = tuple(str(fields.get(f, "")) for f in rule.suppress_fields)
    window = rule.windows.get(key)
    if not rule.enabled or (window is not None and at < window):
        rule.suppressed += 1
        return None
    if rule.suppress_period is not None:
        rule.windows[key] = at + rule.suppress_period
    alert = AlertState(
        alert_id=core.next_id("al"),
        title=title or rule.name,
        severity=severity,
        rule_id=rule_id,
        entity=entity,
        fields={"rule": rule.name, "entity": entity, "raised_at": at.isoformat()},
    )
    core.alerts[alert.alert_id] = alert
    core.log_event(at, "alert", alert_id=alert.alert_id, rule_id=rule_id, entity=entity)
    return alert


class SimSiem:
    """:class:`~adapters.contracts.SiemContract` over a :class:`SimCore`."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    @staticmethod
    def _alert(a: AlertState) -> Alert:
        return Alert(
            alert_id=a.alert_id,
            title=a.title,
            severity=a.severity,
            status=a.status,
            rule_id=a.rule_id,
            entity=a.entity,
            fields=dict(a.fields),
        )

    @staticmethod
    def _rule(r: SiemRuleState, now: datetime) -> SiemRule:
        active = r.throttled_until is not None and now < r.throttled_until
        period = r.suppress_period
        return SiemRule(
            rule_id=r.rule_id,
            name=r.name,
            enabled=r.enabled,
            throttled_until=r.throttled_until if active else None,
            suppress_fields=r.suppress_fields if period else (),
            suppress_period_seconds=int(period.total_seconds()) if period else 0,
        )

    def _find_rule(self, rule_id: str, call: str) -> SiemRuleState:
        rule = self._core.siem_rules.get(rule_id)
        if rule is None:
            raise NotFound(f"no SIEM rule {rule_id!r}", integration="sim-siem", call=call)
        return rule

    def list_alerts(self, *, status: str | None = None) -> list[Alert]:
        """Alerts, optionally only those with ``status`` (``new``, ``in_progress``)."""

        def act(_: list[FaultRule], now: datetime) -> list[Alert]:
            return [
                self._alert(a)
                for a in self._core.alerts.values()
                if status is None or a.status == status
            ]

        return self._core.call("siem", "list_alerts", target=None, args={"status": status}, act=act)

    def acknowledge(self, alert_id: str, *, idempotency_key: str) -> Alert:
        """Acknowledge an alert: its status becomes ``in_progress``."""

        def act(_: list[FaultRule], now: datetime) -> Alert:
            alert = self._core.alerts.get(alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id!r}", integration="sim-siem", call="acknowledge")
            # Acknowledging moves the alert on to being worked, as Splunk ES's "In Progress".
            alert.status = "in_progress"
            return self._alert(alert)

        return self._core.call(
            "siem",
            "acknowledge",
            target=alert_id,
            args={"alert_id": alert_id},
            key=idempotency_key,
            act=act,
        )

    def get_rule(self, rule_id: str) -> SiemRule:
        """One rule; ``throttled_until`` is ``None`` once a throttle has expired."""

        def act(_: list[FaultRule], now: datetime) -> SiemRule:
            return self._rule(self._find_rule(rule_id, "get_rule"), now)

        return self._core.call(
            "siem", "get_rule", target=rule_id, args={"rule_id": rule_id}, act=act
        )

    def list_rules(self) -> list[SiemRule]:
        """Every detection rule (beyond the contract: a sync uses it when the SIEM can list)."""

        def act(_: list[FaultRule], now: datetime) -> list[SiemRule]:
            return [self._rule(r, now) for r in self._core.siem_rules.values()]

        return self._core.call("siem", "list_rules", target=None, args={}, act=act)

    def throttle_rule(
        self,
        rule_id: str,
        until: datetime,
        *,
        idempotency_key: str,
        fields: tuple[str, ...] = (),
    ) -> SiemRule:
        """Suppress repeats for ``until`` minus now after each firing, per ``fields`` (or the
        rule's own suppression fields)."""

        def act(_: list[FaultRule], now: datetime) -> SiemRule:
            rule = self._find_rule(rule_id, "throttle_rule")
            if until.tzinfo is None or until <= now:
                raise AdapterError(
                    f"until must be a timezone-aware time in the future, got {until.isoformat()}",
                    integration="sim-siem",
                    call="throttle_rule",
                )
            rule.throttled_until = until
            rule.suppress_period = until - now
            if fields:
                rule.suppress_fields = tuple(fields)
                rule.windows.clear()
            self._core.log_event(now, "rule_throttled", rule_id=rule_id, until=until.isoformat())
            return self._rule(rule, now)

        return self._core.call(
            "siem",
            "throttle_rule",
            target=rule_id,
            args={"rule_id": rule_id, "until": until.isoformat(), "fields": list(fields)},
            key=idempotency_key,
            act=act,
        )

    def search(self, query: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Search the estate's event stream (see the module docstring for the syntax)."""

        def act(_: list[FaultRule], now: datetime) -> list[dict[str, Any]]:
            if limit < 1:
                raise AdapterError(
                    f"limit must be >= 1, got {limit}", integration="sim-siem", call="search"
                )
            terms = [t for t in query.split() if t != "*"]
            hits: list[dict[str, Any]] = []
            for event in reversed(self._core.events):
                if all(_matches(event, t) for t in terms):
                    hits.append(dict(event))
                    if len(hits) >= limit:
                        break
            return hits

        return self._core.call(
            "siem", "search", target=None, args={"query": query, "limit": limit}, act=act
        )


def _matches(event: dict[str, Any], term: str) -> bool:
    if "=" in term:
        field, _, value = term.partition("=")
        return str(event.get(field, "")) == value
    low = term.lower()
    return any(low in str(v).lower() for v in event.values())
