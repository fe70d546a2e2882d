"""Signal webhook routes: status codes, field names, signature check, hand-off."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.signals import Signal
from bot.ingress import SignalGate, sign_generic, webhook_routes
from bot.settings import SignalSourceSettings

ROOT = Path(__file__).resolve().parents[3]
SECRET = SecretStr("pd-webhook-secret")
GENERIC = "generic-webhook-secret"
AM_TOKEN = "am-bearer-token"
GATE = SignalGate(
    {
        "pagerduty": SignalSourceSettings(secret=SECRET),
        "alertmanager": SignalSourceSettings(bearer_token=SecretStr(AM_TOKEN)),
        "generic": SignalSourceSettings(secret=SecretStr(GENERIC)),
        "siem": SignalSourceSettings(secret=SecretStr("siem-secret")),
    }
)
AM = {"Authorization": f"Bearer {AM_TOKEN}"}
PD = {
    "event": {
        "id": "01ABC",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-03-02T08:59:00Z",
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "title": "contoso-portal down",
            "status": "triggered",
            "urgency": "high",
            "service": {"id": "PSVC", "summary": "contoso-portal"},
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        },
    }
}


def _client() -> tuple[TestClient, list[Signal]]:
    got: list[Signal] = []

    def handler(s: Signal) -> Any:
        got.append(s)
        return None

    app = Starlette(routes=webhook_routes(handler, gate=GATE))
    return TestClient(app), got


def _sign(body: bytes) -> str:
    return "v1=" + hmac.new(SECRET.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


def test_webhook_alertmanager_accepts_and_hands_off() -> None:
    c, got = _client()
    body = (ROOT / "examples" / "signals" / "alertmanager_portal_down.json").read_bytes()
    r = c.post("/signals/alertmanager", content=body, headers=AM)
    assert r.status_code == 202 and r.json()["accepted"] == 1
    assert got[0].labels["service"] == "contoso-portal"


def test_webhook_bad_payload_is_400_naming_the_field() -> None:
    c, got = _client()
    r = c.post(
        "/signals/alertmanager",
        content=json.dumps({"version": "4", "alerts": {}}),
        headers=AM,
    )
    assert r.status_code == 400 and r.json()["field"] == "alerts"
    body = json.dumps({"id": "1", "status": "firing"}).encode()
    r = c.post("/signals/generic", content=body, headers=sign_generic(GENERIC, body))
    assert r.status_code == 400 and r.json()["field"] == "title"
    r = c.post("/signals/generic", content=b"not json", headers=sign_generic(GENERIC, b"not json"))
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = c.post("/signals/generic?source=Bad%20Name", content=b"{}")
    assert r.status_code == 400 and r.json()["field"] == "source"
    assert got == []


def test_c1_webhook_pagerduty_bad_signature_is_401_and_not_processed() -> None:
    c, got = _client()
    body = json.dumps(PD).encode()
    assert c.post("/signals/pagerduty", content=body).status_code == 401
    r = c.post(
        "/signals/pagerduty", content=body + b" ", headers={"X-PagerDuty-Signature": _sign(body)}
    )
    assert r.status_code == 401
    assert got == []
    r = c.post("/signals/pagerduty", content=body, headers={"X-PagerDuty-Signature": _sign(body)})
    assert r.status_code == 202 and got[0].entity_hint == "contoso-portal"


def test_webhook_generic_takes_a_source_name_and_refuses_oversize() -> None:
    c, got = _client()
    body = json.dumps({"id": "n1", "title": "t", "status": "firing"}).encode()
    r = c.post(
        "/signals/generic?source=siem", content=body, headers=sign_generic("siem-secret", body)
    )
    assert r.status_code == 202 and got[0].source == "siem"
    r = c.post("/signals/generic", content=b"{" + b" " * 1_000_001 + b"}")
    assert r.status_code == 413


def test_c7_webhook_pagerduty_not_configured_is_401() -> None:
    app = Starlette(routes=webhook_routes(lambda s: None, gate=SignalGate({})))
    r = TestClient(app).post("/signals/pagerduty", content=b"{}")
    assert r.status_code == 401
