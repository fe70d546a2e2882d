"""`opshand serve`'s HTTP app: signal webhooks reach the signal loop through the real routes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from slack_sdk import WebClient
from starlette.testclient import TestClient

from bot.app import build_app
from bot.cli.serve import webhook_routes_for
from bot.ingress import create_http_app
from tests.scenarios.conftest import SIGNING_SECRET, World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "signals"


def _http(world: World) -> TestClient:
    client = WebClient(token="xoxb-scenario-0001", base_url=world.slack.api_url)
    bolt = build_app(world.oh, client=client)
    app = create_http_app(
        bolt,
        engine=world.oh.engine,
        signing_secret=SIGNING_SECRET,
        routes=webhook_routes_for(world.oh),
    )
    return TestClient(app)


def test_generic_signal_webhook_opens_incident_and_proposes(world: World) -> None:
    body = json.loads((EXAMPLES / "generic_file_down.json").read_text())
    with _http(world) as http:
        r = http.post("/signals/generic", json=body)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not world.oh.signals.incidents.all():
            time.sleep(0.05)
    incidents = world.oh.signals.incidents.all()
    assert len(incidents) == 1
    changes = world.oh.ops.journal.list()
    assert changes and all(c.source == "signal" for c in changes)


def test_bad_generic_payload_gets_400_naming_the_field(world: World) -> None:
    with _http(world) as http:
        r = http.post("/signals/generic", json={"status": "firing"})
        assert r.status_code == 400
        assert "title" in r.text or "id" in r.text
        assert http.get("/healthz").status_code == 200


def test_pagerduty_without_secret_is_refused(world: World) -> None:
    body = (EXAMPLES / "pagerduty_portal_triggered.json").read_bytes()
    with _http(world) as http:
        r = http.post(
            "/signals/pagerduty", content=body, headers={"X-PagerDuty-Signature": "v1=00"}
        )
        assert r.status_code in (401, 503)
    assert world.oh.ops.journal.list() == []
