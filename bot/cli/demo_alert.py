"""The demo's "fire an alert" step: a real Alertmanager webhook to the demo's own port.

The step sends what an Alertmanager receiver configured with ``http_config`` sends
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config): the version 4 JSON
body, with the ``Authorization`` header of the demo's ``signals.sources.alertmanager``. It goes
over HTTP to ``/signals/alertmanager`` on the demo's port, so it takes the same path as a real
alert: authentication, parsing, the incident record, the runbook, policy, the change, and the
incident thread in ``#incidents``.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime

import httpx

from bot.localslack import DemoChannel, TryStep
from bot.settings import DEMO_ALERTMANAGER_TOKEN, SignalSourceSettings

__all__ = [
    "ALERT_SERVICE",
    "ALERT_STEP",
    "FIRE_ALERT",
    "INCIDENTS_CHANNEL",
    "alert_headers",
    "alertmanager_body",
    "curl_example",
    "fire_alert",
]

ALERT_SERVICE = "contoso-erp-app"
"""The service the demo's alert is about (its runbook restarts it; policy lets that run)."""
ALERT_HOST = "contoso-ny-app-prod-01"
"""The instance the alert names (one of the service's hosts in the sample estate)."""
FIRE_ALERT = "fire-alert"
"""The step action's name."""

INCIDENTS_CHANNEL = DemoChannel(
    id="C0LOCALINC",
    name="incidents",
    topic="Incident threads: the alert, its runbook, the change and what happened",
)
"""Where the demo's incident threads go."""

ALERT_STEP = TryStep(
    title="Fire an alert",
    run=FIRE_ALERT,
    user="ana",
    channel="incidents",
    hint="Alertmanager reports contoso-erp-app down (a signed webhook to /signals/alertmanager): "
    "the runbook's restart opens an incident thread here and closes it with a summary.",
)
"""The "try this" step that fires the alert."""


def alertmanager_body(now: datetime | None = None, *, fingerprint: str | None = None) -> bytes:
    """A firing ``ServiceDown`` notification for :data:`ALERT_SERVICE` (webhook version 4)."""
    started = (now or datetime.now(UTC)).astimezone(UTC)
    labels = {"alertname": "ServiceDown", "service": ALERT_SERVICE, "severity": "critical"}
    summary = f"{ALERT_SERVICE} health check failing"
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="ServiceDown"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "opshand",
        "groupLabels": {"alertname": "ServiceDown"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {**labels, "instance": f"{ALERT_HOST}:8443"},
                "annotations": {
                    "summary": summary,
                    "description": "HTTP 503 from /healthz for 5 minutes",
                },
                "startsAt": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": fingerprint or secrets.token_hex(8),
            }
        ],
    }
    return json.dumps(body).encode()


def alert_headers(source: SignalSourceSettings | None) -> dict[str, str]:
    """The ``Authorization`` header Alertmanager's ``http_config`` would send for ``source``.

    Empty for an open source or none configured (the webhook then answers 401 if it must).
    """
    if source is None or source.open:
        return {}
    if source.bearer_token is not None:
        return {"Authorization": f"Bearer {source.bearer_token.get_secret_value()}"}
    if source.username and source.password is not None:
        pair = f"{source.username}:{source.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


def fire_alert(base_url: str, source: SignalSourceSettings | None, *, timeout: float = 30) -> str:
    """POST the alert to ``base_url`` + ``signals/alertmanager``; one sentence on the answer."""
    url = base_url.rstrip("/") + "/signals/alertmanager"
    headers = {"Content-Type": "application/json", **alert_headers(source)}
    try:
        resp = httpx.post(url, content=alertmanager_body(), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"The alert could not be sent to {url}: {type(exc).__name__}."
    if resp.status_code == 401:
        return "The signal webhook refused the alert (401): check signals.sources.alertmanager."
    if resp.status_code != 202:
        return f"The signal webhook answered HTTP {resp.status_code}."
    refs = [str(r) for r in resp.json().get("incidents", [])]
    where = f"incident {', '.join(refs)}" if refs else "no incident"
    return (
        f"Alertmanager: {ALERT_SERVICE} is down. /signals/alertmanager accepted it (HTTP 202): "
        f"{where}. Its thread is in #{INCIDENTS_CHANNEL.name}."
    )


def curl_example(base_url: str, source: SignalSourceSettings | None) -> str:
    """A ``curl`` command sending the example alert; shows the token only if it is the demo's."""
    token = source.bearer_token if source is not None else None
    shown = (
        DEMO_ALERTMANAGER_TOKEN
        if token is not None and token.get_secret_value() == DEMO_ALERTMANAGER_TOKEN
        else "<signals.sources.alertmanager.bearer_token>"
    )
    return (
        f"curl -X POST {base_url.rstrip('/')}/signals/alertmanager "
        f"-H 'Authorization: Bearer {shown}' -H 'Content-Type: application/json' "
        "-d @examples/signals/alertmanager_portal_down.json"
    )
