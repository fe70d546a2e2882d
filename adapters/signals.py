"""Inbound signals: webhook payloads parsed into one frozen :class:`Signal` record.

Sources: Prometheus Alertmanager (webhook ``version: "4"``), PagerDuty v3 webhooks (verified
with the ``X-PagerDuty-Signature`` HMAC-SHA256 before anything is parsed) and a generic JSON
shape. Everything a payload says is untrusted data: it is copied into fields, never interpreted.
A bad payload raises :class:`adapters.errors.SignalError` naming the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from adapters.errors import SignalError, SignatureError

__all__ = [
    "MAX_SIGNAL_BYTES",
    "Severity",
    "Signal",
    "SignalStatus",
    "parse_alertmanager",
    "parse_generic",
    "parse_pagerduty",
    "verify_pagerduty_signature",
]

MAX_SIGNAL_BYTES = 1_000_000
"""Webhook bodies above this size are refused before parsing."""

SignalStatus = Literal["firing", "resolved"]
Severity = Literal["critical", "high", "warning", "info", "unknown"]

_SEVERITIES: dict[str, Severity] = {
    "critical": "critical", "crit": "critical", "fatal": "critical", "p1": "critical",
    "emergency": "critical", "page": "critical",
    "high": "high", "error": "high", "major": "high", "p2": "high",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning",
    "p3": "warning", "low": "warning",
    "info": "info", "informational": "info", "notice": "info", "p4": "info", "p5": "info",
    "none": "info",
}  # fmt: skip
_RESOLVED_WORDS = frozenset({"resolved", "ok", "closed", "recovered", "cleared", "inactive"})
_FIRING_WORDS = frozenset({"firing", "triggered", "open", "alert", "alerting", "active", "problem"})
_ENTITY_LABELS = ("instance", "host", "hostname", "node", "pod", "service", "job")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Signal(BaseModel):
    """One alert or incident event from a signal source, de-duplicable by ``fingerprint``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """``alertmanager``, ``pagerduty`` or the generic sender's name."""
    external_id: str
    """The source's id for the alert/incident."""
    fingerprint: str
    """Dedupe key: the same alert firing again has the same fingerprint."""
    status: SignalStatus
    severity: Severity
    title: str
    labels: dict[str, str] = Field(default_factory=dict)
    entity_hint: str = ""
    """A host/service name the source points at; resolved against the twin, never trusted."""
    starts_at: datetime | None = None
    url: str = ""
    raw: dict[str, Any] = Field(default_factory=dict)
    """The source's own fields, kept verbatim as untrusted data."""
    received_at: datetime
    aiops_trusted: bool = False
    """Set by the receiving edge only for a source configured as trusted for AIOps output:
    then (and only then) its ``aiops_cluster``/``suspected_cause`` labels may reach the twin and
    policy. Parsers never set it; a payload cannot claim it."""


# --------------------------------------------------------------------------- helpers
def _load(body: bytes | str | Mapping[str, Any], source: str) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_SIGNAL_BYTES:
        raise SignalError(
            f"payload of {len(raw)} bytes exceeds {MAX_SIGNAL_BYTES}",
            field="body",
            integration=source,
        )
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignalError("payload is not JSON", field="body", integration=source) from exc
    if not isinstance(data, dict):
        raise SignalError("payload is not a JSON object", field="body", integration=source)
    return data


def _str(obj: Mapping[str, Any], key: str, path: str, source: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise SignalError(f"missing field {path}", field=path, integration=source)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SignalError(f"field {path} is not a string", field=path, integration=source)
    return str(value)


def _obj(obj: Mapping[str, Any], key: str, path: str, source: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SignalError(f"field {path} is not an object", field=path, integration=source)
    return value


def _labels(value: Mapping[str, Any], path: str, source: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise SignalError(
                f"label {path}.{key} is not a string", field=f"{path}.{key}", integration=source
            )
        labels[str(key)] = str(item)
    return labels


def _time(value: str, path: str, source: str) -> datetime | None:
    if not value or value.startswith("0001-01-01"):  # Go's zero time means "not set"
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SignalError(
            f"field {path} is not a timestamp", field=path, integration=source
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _severity(value: str) -> Severity:
    return _SEVERITIES.get(value.strip().lower(), "unknown")


def _status(value: str, path: str, source: str) -> SignalStatus:
    word = value.strip().lower()
    if word in _RESOLVED_WORDS:
        return "resolved"
    if word in _FIRING_WORDS:
        return "firing"
    raise SignalError(
        f"field {path} has unknown status {value[:40]!r}", field=path, integration=source
    )


def _label_hash(labels: Mapping[str, str]) -> str:
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- Alertmanager
def parse_alertmanager(
    body: bytes | str | Mapping[str, Any], *, now: Callable[[], datetime] = _utcnow
) -> list[Signal]:
    """One :class:`Signal` per alert in an Alertmanager webhook (``version: "4"``)."""
    source = "alertmanager"
    data = _load(body, source)
    version = _str(data, "version", "version", source)
    if version != "4":
        raise SignalError(
            f"unsupported webhook version {version[:10]!r}", field="version", integration=source
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise SignalError("field alerts is not a list", field="alerts", integration=source)
    group_labels = _labels(
        _obj(data, "commonLabels", "commonLabels", source), "commonLabels", source
    )
    received = now()
    signals = []
    for i, alert in enumerate(alerts):
        at = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise SignalError(f"{at} is not an object", field=at, integration=source)
        labels = {
            **group_labels,
            **_labels(_obj(alert, "labels", f"{at}.labels", source), f"{at}.labels", source),
        }
        annotations = _labels(
            _obj(alert, "annotations", f"{at}.annotations", source), f"{at}.annotations", source
        )
        fingerprint = _str(alert, "fingerprint", f"{at}.fingerprint", source, required=False)
        fingerprint = fingerprint or _label_hash(labels)
        title = annotations.get("summary") or labels.get("alertname") or ""
        if not title:
            raise SignalError(
                f"{at} has neither annotations.summary nor labels.alertname",
                field=f"{at}.labels.alertname",
                integration=source,
            )
        signals.append(
            Signal(
                source=source,
                external_id=fingerprint,
                fingerprint=f"{source}:{fingerprint}",
                status=_status(
                    _str(alert, "status", f"{at}.status", source), f"{at}.status", source
                ),
                severity=_severity(labels.get("severity", "")),
                title=title,
                labels=labels,
                entity_hint=next((labels[k] for k in _ENTITY_LABELS if labels.get(k)), ""),
                starts_at=_time(
                    _str(alert, "startsAt", f"{at}.startsAt", source, required=False),
                    f"{at}.startsAt",
                    source,
                ),
                url=_str(alert, "generatorURL", f"{at}.generatorURL", source, required=False),
                raw={
                    "annotations": annotations,
                    "receiver": data.get("receiver", ""),
                    "groupKey": data.get("groupKey", ""),
                },
                received_at=received,
            )
        )
    return signals


# --------------------------------------------------------------------------- PagerDuty
def verify_pagerduty_signature(body: bytes, header: str | None, secret: SecretStr) -> None:
    """Check ``X-PagerDuty-Signature`` (``v1=<hex hmac-sha256>``, comma-separated list).

    Raises:
        SignatureError: Header missing, malformed, or no signature matches the raw body.
    """
    source = "pagerduty"
    if not header:
        raise SignatureError(
            "missing X-PagerDuty-Signature", field="X-PagerDuty-Signature", integration=source
        )
    expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    candidates = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    if not candidates:
        raise SignatureError(
            "no v1 signature in header", field="X-PagerDuty-Signature", integration=source
        )
    # Compare every candidate in constant time (secret rotation sends several).
    if not any(hmac.compare_digest(expected, c.lower()) for c in candidates):
        raise SignatureError(
            "signature does not match", field="X-PagerDuty-Signature", integration=source
        )


def parse_pagerduty(
    body: bytes,
    *,
    signature: str | None,
    secret: SecretStr,
    now: Callable[[], datetime] = _utcnow,
) -> Signal:
    """A verified PagerDuty v3 webhook (``incident.*`` events) as a :class:`Signal`."""
    source = "pagerduty"
    verify_pagerduty_signature(body, signature, secret)
    event = _obj(_load(body, source), "event", "event", source)
    if not event:
        raise SignalError("missing field event", field="event", integration=source)
    event_type = _str(event, "event_type", "event.event_type", source)
    if not event_type.startswith("incident."):
        raise SignalError(
            f"unsupported event type {event_type[:60]!r}",
            field="event.event_type",
            integration=source,
        )
    incident = _obj(event, "data", "event.data", source)
    incident_id = _str(incident, "id", "event.data.id", source)
    status_word = _str(incident, "status", "event.data.status", source, required=False)
    resolved = event_type == "incident.resolved" or status_word == "resolved"
    priority = _obj(incident, "priority", "event.data.priority", source)
    priority_name = _str(priority, "summary", "event.data.priority.summary", source, required=False)
    urgency = _str(incident, "urgency", "event.data.urgency", source, required=False)
    service = _obj(incident, "service", "event.data.service", source)
    service_name = _str(service, "summary", "event.data.service.summary", source, required=False)
    labels = {
        "event_type": event_type,
        "urgency": urgency,
        "service": service_name,
        "priority": priority_name,
    }
    return Signal(
        source=source,
        external_id=incident_id,
        fingerprint=f"{source}:{incident_id}",
        status="resolved" if resolved else "firing",
        severity=_severity(priority_name) if priority_name else _severity(urgency),
        title=_str(incident, "title", "event.data.title", source),
        labels={k: v for k, v in labels.items() if v},
        entity_hint=service_name,
        starts_at=_time(
            _str(incident, "created_at", "event.data.created_at", source, required=False),
            "event.data.created_at",
            source,
        ),
        url=_str(incident, "html_url", "event.data.html_url", source, required=False),
        raw={
            "event_id": event.get("id", ""),
            "occurred_at": event.get("occurred_at", ""),
            "data": incident,
        },
        received_at=now(),
    )


# --------------------------------------------------------------------------- generic JSON
def parse_generic(
    body: bytes | str | Mapping[str, Any],
    *,
    source: str = "generic",
    now: Callable[[], datetime] = _utcnow,
) -> Signal:
    """A generic JSON alert: ``id``, ``title``, ``status`` required; ``severity``, ``labels``,
    ``entity``, ``fingerprint``, ``url``, ``starts_at`` optional; anything else kept in ``raw``.
    """
    data = _load(body, source)
    external_id = _str(data, "id", "id", source)
    given = _str(data, "fingerprint", "fingerprint", source, required=False)
    known = {
        "id",
        "title",
        "status",
        "severity",
        "labels",
        "entity",
        "fingerprint",
        "url",
        "starts_at",
    }
    return Signal(
        source=source,
        external_id=external_id,
        fingerprint=f"{source}:{given or external_id}",
        status=_status(_str(data, "status", "status", source), "status", source),
        severity=_severity(_str(data, "severity", "severity", source, required=False)),
        title=_str(data, "title", "title", source),
        labels=_labels(_obj(data, "labels", "labels", source), "labels", source),
        entity_hint=_str(data, "entity", "entity", source, required=False),
        starts_at=_time(
            _str(data, "starts_at", "starts_at", source, required=False), "starts_at", source
        ),
        url=_str(data, "url", "url", source, required=False),
        raw={k: v for k, v in data.items() if k not in known},
        received_at=now(),
    )
