"""Alert webhooks from Opsgenie, Datadog and Zabbix, parsed into :class:`adapters.signals.Signal`.

Each parser is a plain function ``(body, *, now) -> Signal``: authenticating the request
(shared token or signature) and routing it are the ingress's job, done before a parser sees the
body. As in :mod:`adapters.signals`, everything a payload says is untrusted data, copied into
fields and never interpreted; a bad payload raises :class:`adapters.errors.SignalError` naming
the field.

Payload shapes:

- **Opsgenie** outgoing webhook integration (fixed shape): ``action`` (``Create``,
  ``Acknowledge``, ``Close``, ``Delete``, ``AddNote`` ...), ``alert`` (``alertId``, ``message``,
  ``alias``, ``tinyId``, ``entity``, ``priority`` ``P1``-``P5``, ``tags``, ``details``,
  ``createdAt`` epoch ms), ``source``, ``integrationName``. Docs: "Integrate Opsgenie with
  outgoing webhooks", https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-outgoing-webhooks/
- **Datadog** webhooks integration: the payload is a template the operator writes with
  Datadog's ``$VARIABLES``; :data:`DATADOG_PAYLOAD` is the template this parser reads
  (``$ALERT_ID``, ``$ALERT_TRANSITION`` ``Triggered``/``Recovered``/``Warn``/``No Data``/
  ``Re-Triggered``/``Renotify``, ``$ALERT_PRIORITY``, ``$HOSTNAME``, ``$TAGS``, ``$LINK``,
  ``$AGGREG_KEY``, ``$DATE`` epoch ms). Docs: https://docs.datadoghq.com/integrations/webhooks/
- **Zabbix** webhook media type: the media type's parameters become the JSON body through its
  script; :data:`ZABBIX_PARAMETERS` lists the parameters (Zabbix macros) this parser reads.
  ``{EVENT.VALUE}`` is ``1`` for a problem and ``0`` for its recovery; ``{EVENT.ID}`` stays the
  problem's id in recovery messages, so both share a fingerprint. Docs:
  https://www.zabbix.com/documentation/7.0/en/manual/config/notifications/media/webhook and
  https://www.zabbix.com/documentation/7.0/en/manual/appendix/macros/supported_by_location
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.errors import SignalError
from adapters.signals import Severity, Signal, SignalStatus
from adapters.signals import _load as load_json
from adapters.signals import _obj as obj_field
from adapters.signals import _str as str_field

__all__ = [
    "DATADOG_PAYLOAD",
    "ZABBIX_PARAMETERS",
    "parse_datadog",
    "parse_opsgenie",
    "parse_zabbix",
]

DATADOG_PAYLOAD: dict[str, str] = {
    "id": "$ID",
    "alert_id": "$ALERT_ID",
    "title": "$EVENT_TITLE",
    "alert_transition": "$ALERT_TRANSITION",
    "priority": "$ALERT_PRIORITY",
    "hostname": "$HOSTNAME",
    "tags": "$TAGS",
    "link": "$LINK",
    "aggreg_key": "$AGGREG_KEY",
    "date": "$DATE",
    "org_name": "$ORG_NAME",
}
"""The Datadog webhook payload template to paste into the webhook's *Payload* box."""

ZABBIX_PARAMETERS: dict[str, str] = {
    "event_id": "{EVENT.ID}",
    "event_name": "{EVENT.NAME}",
    "event_nseverity": "{EVENT.NSEVERITY}",
    "event_severity": "{EVENT.SEVERITY}",
    "event_value": "{EVENT.VALUE}",
    "event_update_status": "{EVENT.UPDATE.STATUS}",
    "event_tags": "{EVENT.TAGSJSON}",
    "event_date": "{EVENT.DATE}",
    "event_time": "{EVENT.TIME}",
    "host_name": "{HOST.NAME}",
    "trigger_id": "{TRIGGER.ID}",
    "zabbix_url": "{$ZABBIX.URL}",
}
"""Zabbix webhook media type parameters (name -> macro); the script posts them as JSON."""

_OPSGENIE_RESOLVED = frozenset({"close", "delete"})
_OPSGENIE_PRIORITY: dict[str, Severity] = {
    "P1": "critical", "P2": "high", "P3": "warning", "P4": "info", "P5": "info",
}  # fmt: skip
_DATADOG_FIRING = frozenset({"triggered", "re-triggered", "renotify", "warn", "no data"})
_DATADOG_RESOLVED = frozenset({"recovered", "warn recovered", "no data recovered"})
# Zabbix {EVENT.NSEVERITY}: 0 not classified ... 5 disaster.
_ZABBIX_SEVERITY: dict[str, Severity] = {
    "5": "critical", "4": "high", "3": "warning", "2": "warning", "1": "info", "0": "unknown",
}  # fmt: skip


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _epoch_ms(value: Any, path: str, source: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise SignalError(
            f"field {path} is not epoch time", field=path, integration=source
        ) from exc
    # Both vendors send milliseconds; a value that small is seconds.
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)


def _text_map(value: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


# --------------------------------------------------------------------------- Opsgenie
def parse_opsgenie(
    body: bytes | str | Mapping[str, Any], *, now: Callable[[], datetime] = _utcnow
) -> Signal:
    """An Opsgenie outgoing-webhook callback as a :class:`Signal` (Close/Delete resolve it)."""
    source = "opsgenie"
    data = load_json(body, source)
    action = str_field(data, "action", "action", source)
    alert = obj_field(data, "alert", "alert", source)
    if not alert:
        raise SignalError("missing field alert", field="alert", integration=source)
    alert_id = str_field(alert, "alertId", "alert.alertId", source)
    alias = str_field(alert, "alias", "alert.alias", source, required=False)
    priority = str_field(alert, "priority", "alert.priority", source, required=False)
    tags = alert.get("tags") or []
    if not isinstance(tags, list):
        raise SignalError("field alert.tags is not a list", field="alert.tags", integration=source)
    details = obj_field(alert, "details", "alert.details", source)
    labels = {
        "action": action,
        "priority": priority,
        "tags": ",".join(str(t) for t in tags),
        "integration": str_field(
            data, "integrationName", "integrationName", source, required=False
        ),
        **{f"detail.{k}": v for k, v in _text_map(details).items()},
    }
    status: SignalStatus = "resolved" if action.strip().lower() in _OPSGENIE_RESOLVED else "firing"
    return Signal(
        source=source,
        external_id=alert_id,
        # The alias is Opsgenie's own dedupe key; the alert id when none is set.
        fingerprint=f"{source}:{alias or alert_id}",
        status=status,
        severity=_OPSGENIE_PRIORITY.get(priority.upper(), "unknown"),
        title=str_field(alert, "message", "alert.message", source),
        labels={k: v for k, v in labels.items() if v},
        entity_hint=str_field(alert, "entity", "alert.entity", source, required=False),
        starts_at=_epoch_ms(alert.get("createdAt"), "alert.createdAt", source),
        raw={"alert": alert, "source": data.get("source", {})},
        received_at=now(),
    )


# --------------------------------------------------------------------------- Datadog
def parse_datadog(
    body: bytes | str | Mapping[str, Any], *, now: Callable[[], datetime] = _utcnow
) -> Signal:
    """A Datadog monitor webhook sent with :data:`DATADOG_PAYLOAD` as a :class:`Signal`."""
    source = "datadog"
    data = load_json(body, source)
    transition = str_field(data, "alert_transition", "alert_transition", source)
    word = transition.strip().lower()
    if word in _DATADOG_RESOLVED:
        status: SignalStatus = "resolved"
    elif word in _DATADOG_FIRING:
        status = "firing"
    else:
        raise SignalError(
            f"field alert_transition has unknown value {transition[:40]!r}",
            field="alert_transition",
            integration=source,
        )
    monitor = str_field(data, "alert_id", "alert_id", source, required=False)
    event_id = str_field(data, "id", "id", source)
    # One monitor alerts per group (host ...): the aggregation key tells the groups apart.
    group = str_field(data, "aggreg_key", "aggreg_key", source, required=False)
    host = str_field(data, "hostname", "hostname", source, required=False)
    priority = str_field(data, "priority", "priority", source, required=False)
    labels = {
        "transition": transition,
        "priority": priority,
        "tags": str_field(data, "tags", "tags", source, required=False),
        "monitor_id": monitor,
        "org": str_field(data, "org_name", "org_name", source, required=False),
    }
    return Signal(
        source=source,
        external_id=event_id,
        fingerprint=f"{source}:{monitor or event_id}:{group or host}",
        status=status,
        severity=_OPSGENIE_PRIORITY.get(
            priority.upper(), "warning" if word == "warn" else "unknown"
        ),
        title=str_field(data, "title", "title", source),
        labels={k: v for k, v in labels.items() if v},
        entity_hint=host,
        starts_at=_epoch_ms(data.get("date"), "date", source),
        url=str_field(data, "link", "link", source, required=False),
        raw={k: v for k, v in data.items() if k not in DATADOG_PAYLOAD},
        received_at=now(),
    )


# --------------------------------------------------------------------------- Zabbix
def parse_zabbix(
    body: bytes | str | Mapping[str, Any], *, now: Callable[[], datetime] = _utcnow
) -> Signal:
    """A Zabbix webhook media type message (:data:`ZABBIX_PARAMETERS`) as a :class:`Signal`."""
    source = "zabbix"
    data = load_json(body, source)
    value = str_field(data, "event_value", "event_value", source)
    if value not in ("0", "1"):
        raise SignalError(
            f"field event_value must be 0 or 1, got {value[:10]!r}",
            field="event_value",
            integration=source,
        )
    event_id = str_field(data, "event_id", "event_id", source)
    trigger = str_field(data, "trigger_id", "trigger_id", source, required=False)
    labels = {
        "severity": str_field(data, "event_severity", "event_severity", source, required=False),
        "trigger_id": trigger,
        "update": str_field(
            data, "event_update_status", "event_update_status", source, required=False
        ),
    }
    labels |= {f"tag.{k}": v for k, v in _zabbix_tags(data.get("event_tags"), source).items()}
    started = None
    date = str_field(data, "event_date", "event_date", source, required=False)
    time = str_field(data, "event_time", "event_time", source, required=False)
    if date and time:
        # Zabbix renders {EVENT.DATE} as 2026.03.02 and {EVENT.TIME} as 09:00:00 (server time,
        # no zone): kept as given, read as UTC only when it parses.
        try:
            started = datetime.strptime(f"{date} {time}", "%Y.%m.%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError as exc:
            raise SignalError(
                "fields event_date/event_time are not a Zabbix date and time",
                field="event_date",
                integration=source,
            ) from exc
    severity = str_field(data, "event_nseverity", "event_nseverity", source, required=False)
    return Signal(
        source=source,
        external_id=event_id,
        fingerprint=f"{source}:{trigger}:{event_id}",
        status="firing" if value == "1" else "resolved",
        severity=_ZABBIX_SEVERITY.get(severity, "unknown"),
        title=str_field(data, "event_name", "event_name", source),
        labels={k: v for k, v in labels.items() if v},
        entity_hint=str_field(data, "host_name", "host_name", source, required=False),
        starts_at=started,
        url=str_field(data, "zabbix_url", "zabbix_url", source, required=False),
        raw={k: v for k, v in data.items() if k not in ZABBIX_PARAMETERS},
        received_at=now(),
    )


def _zabbix_tags(value: Any, source: str) -> dict[str, str]:
    """``{EVENT.TAGSJSON}`` (a JSON array of ``{"tag", "value"}``, maybe still a string)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SignalError(
                "field event_tags is not JSON", field="event_tags", integration=source
            ) from exc
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise SignalError(
            "field event_tags is not a list of tags", field="event_tags", integration=source
        )
    return {str(t.get("tag", "")): str(t.get("value", "")) for t in value if t.get("tag")}
