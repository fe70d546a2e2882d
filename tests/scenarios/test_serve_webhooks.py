"""`opshand serve`'s HTTP app: signal webhooks reach the signal loop through the real routes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from slack_sdk import WebClient
from starlette.testclient import TestClient

from bot.app import build_app
from bot.cli.serve import webhook_routes_for
from bot.ingress import create_http_app, sign_generic
from bot.settings import DEMO_ALERTMANAGER_TOKEN, DEMO_SIGNAL_SECRET
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
        raw = json.dumps(body).encode()
        r = http.post(
            "/signals/generic", content=raw, headers=sign_generic(DEMO_SIGNAL_SECRET, raw)
        )
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
        raw = json.dumps({"status": "firing"}).encode()
        r = http.post(
            "/signals/generic", content=raw, headers=sign_generic(DEMO_SIGNAL_SECRET, raw)
        )
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


def _estate(world: World) -> tuple[int, int, int, tuple[str, int]]:
    """What an alert could have left behind: incidents, changes, tickets, the twin's serial."""
    tickets = world.oh.sim.psa.list_tickets() if world.oh.sim is not None else []
    return (
        len(world.oh.signals.incidents.all()),
        len(world.oh.ops.journal.list()),
        len(tickets),
        world.oh.store.meta(),
    )


def test_c7_anonymous_or_forged_signals_store_nothing(world: World) -> None:
    am = (EXAMPLES / "alertmanager_portal_down.json").read_bytes()
    generic = (EXAMPLES / "generic_file_down.json").read_bytes()
    before = _estate(world)
    with _http(world) as http:
        attempts = [
            http.post("/signals/alertmanager", content=am),
            http.post(
                "/signals/alertmanager", content=am, headers={"Authorization": "Bearer guess"}
            ),
            http.post("/signals/generic", content=generic),
            # `?source=` claiming PagerDuty, signed with the generic demo secret
            http.post(
                "/signals/generic?source=pagerduty",
                content=generic,
                headers=sign_generic(DEMO_SIGNAL_SECRET, generic),
            ),
            http.post(
                "/signals/generic",
                content=generic,
                headers=sign_generic("not-the-secret", generic),
            ),
        ]
        assert [r.status_code for r in attempts] == [401] * len(attempts)
        # no incident, no change, no ticket, no twin write
        assert _estate(world) == before
        # the demo's own Alertmanager credentials are accepted (the same server, same body)
        ok = http.post(
            "/signals/alertmanager",
            content=am,
            headers={"Authorization": f"Bearer {DEMO_ALERTMANAGER_TOKEN}"},
        )
        assert ok.status_code == 202
    assert before[:2] == (0, 0)
    assert _estate(world)[0] == 1  # the authenticated alert did open its incident
