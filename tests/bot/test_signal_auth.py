"""C7: every signal source proves who it is; a claim of another source's identity is refused.

Alertmanager's credentials are what its receiver sends from ``webhook_config.http_config``
(https://prometheus.io/docs/alerting/latest/configuration/#http_config): ``authorization``
(``Authorization: Bearer <credentials>``) or ``basic_auth``. The Alertmanager body is the
documented webhook payload (``examples/signals/alertmanager_portal_down.json``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.signals import Signal
from bot.ingress import SignalGate, open_source_warnings, sign_generic, webhook_routes
from bot.settings import Settings, SignalSourceSettings

ROOT = Path(__file__).resolve().parents[2]
AM_BODY = (ROOT / "examples" / "signals" / "alertmanager_portal_down.json").read_bytes()
GENERIC = json.dumps({"id": "n1", "title": "disk full", "status": "firing"}).encode()
NOW = 1_800_000_000


def _gate(**extra: SignalSourceSettings) -> SignalGate:
    sources = {
        "alertmanager": SignalSourceSettings(
            bearer_token=SecretStr("am-token"), username="am", password=SecretStr("am-pass")
        ),
        "generic": SignalSourceSettings(secret=SecretStr("generic-secret")),
        "siem": SignalSourceSettings(secret=SecretStr("siem-secret")),
        "pagerduty": SignalSourceSettings(secret=SecretStr("pd-secret")),
        **extra,
    }
    return SignalGate(sources, clock=lambda: NOW)


def _client(gate: SignalGate | None = None) -> tuple[TestClient, list[Signal]]:
    got: list[Signal] = []

    def handler(s: Signal) -> Any:
        got.append(s)
        return None

    app = Starlette(routes=webhook_routes(handler, gate=gate or _gate()))
    return TestClient(app), got


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "am-token"},
        _basic("am", "wrong"),
        _basic("other", "am-pass"),
        {"Authorization": "Basic !!!not-base64"},
    ],
)
def test_c7_alertmanager_without_its_credentials_is_401(headers: dict[str, str]) -> None:
    c, got = _client()
    r = c.post("/signals/alertmanager", content=AM_BODY, headers=headers)
    assert r.status_code == 401 and got == []
    assert "am-token" not in r.text


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer am-token"}, _basic("am", "am-pass")])
def test_c7_alertmanager_bearer_or_basic_auth_is_accepted(headers: dict[str, str]) -> None:
    c, got = _client()
    r = c.post("/signals/alertmanager", content=AM_BODY, headers=headers)
    assert r.status_code == 202 and len(got) == 1 and got[0].source == "alertmanager"


def test_c7_generic_signed_request_is_accepted_once() -> None:
    c, got = _client()
    headers = sign_generic("generic-secret", GENERIC, timestamp=NOW - 10)
    assert c.post("/signals/generic", content=GENERIC, headers=headers).status_code == 202
    # the same signed request again inside the window: answered, not processed twice
    r = c.post("/signals/generic", content=GENERIC, headers=headers)
    assert r.status_code == 202 and r.json()["replay"] is True
    assert len(got) == 1 and got[0].source == "generic"


@pytest.mark.parametrize(
    ("query", "headers", "body"),
    [
        ("", {}, GENERIC),  # unsigned
        ("", sign_generic("wrong-secret", GENERIC, timestamp=NOW), GENERIC),
        ("", sign_generic("generic-secret", GENERIC, timestamp=NOW), GENERIC + b" "),  # altered
        ("", sign_generic("generic-secret", GENERIC, timestamp=NOW - 301), GENERIC),  # stale
        ("", sign_generic("generic-secret", GENERIC, timestamp=NOW + 301), GENERIC),  # future
        # a source signing as another: siem's request signed with generic's secret
        ("?source=siem", sign_generic("generic-secret", GENERIC, timestamp=NOW), GENERIC),
        # a source nobody configured
        ("?source=nagios", sign_generic("generic-secret", GENERIC, timestamp=NOW), GENERIC),
        # the generic route claiming a dedicated source, even with a valid generic signature
        ("?source=pagerduty", sign_generic("pd-secret", GENERIC, timestamp=NOW), GENERIC),
        ("?source=alertmanager", sign_generic("generic-secret", GENERIC, timestamp=NOW), GENERIC),
    ],
)
def test_c7_generic_bad_or_claimed_identity_is_401(
    query: str, headers: dict[str, str], body: bytes
) -> None:
    c, got = _client()
    r = c.post(f"/signals/generic{query}", content=body, headers=headers)
    assert r.status_code == 401, r.text
    assert got == []


def test_c7_dedicated_source_cannot_be_claimed_even_when_configured_as_generic() -> None:
    # someone configures a generic secret under the name "pagerduty": still refused
    c, got = _client(_gate(pagerduty=SignalSourceSettings(secret=SecretStr("s"), open=True)))
    r = c.post("/signals/generic?source=pagerduty", content=GENERIC)
    assert r.status_code == 401 and got == []


def test_c7_nothing_configured_refuses_every_route() -> None:
    c, got = _client(SignalGate({}))
    bearer = {"Authorization": "Bearer am-token"}
    assert c.post("/signals/alertmanager", content=AM_BODY, headers=bearer).status_code == 401
    assert c.post("/signals/pagerduty", content=b"{}").status_code == 401
    signed = sign_generic("generic-secret", GENERIC)
    assert c.post("/signals/generic", content=GENERIC, headers=signed).status_code == 401
    assert got == []


def test_open_source_is_accepted_and_warned_about() -> None:
    gate = _gate(alertmanager=SignalSourceSettings(open=True))
    c, got = _client(gate)
    assert c.post("/signals/alertmanager", content=AM_BODY).status_code == 202 and got
    warnings = open_source_warnings({"alertmanager": SignalSourceSettings(open=True)})
    assert len(warnings) == 1 and "'alertmanager' is open" in warnings[0]


def test_aiops_trust_comes_from_settings_never_from_the_payload() -> None:
    body = json.dumps(
        {"id": "n1", "title": "t", "status": "firing", "aiops_trusted": True}
    ).encode()
    c, got = _client()
    headers = sign_generic("siem-secret", body, timestamp=NOW)
    assert c.post("/signals/generic?source=siem", content=body, headers=headers).status_code == 202
    assert got[0].aiops_trusted is False
    c, got = _client(_gate(siem=SignalSourceSettings(secret=SecretStr("k"), aiops_trusted=True)))
    headers = sign_generic("k", body, timestamp=NOW)
    assert c.post("/signals/generic?source=siem", content=body, headers=headers).status_code == 202
    assert got[0].aiops_trusted is True and got[0].source == "siem"


def test_demo_credentials_only_in_local_mode() -> None:
    local = Settings(slack={"mode": "local"})
    assert set(local.signal_sources()) == {"generic", "alertmanager"}
    real = Settings(slack={"mode": "http"})
    assert real.signal_sources() == {}
    configured = Settings(slack={"mode": "local"}, signals={"sources": {"siem": {"secret": "x"}}})
    assert set(configured.signal_sources()) == {"siem"}
    with pytest.raises(ValueError, match=r"signals\.sources\.siem\.tolerance_seconds"):
        Settings(signals={"sources": {"siem": {"secret": "x", "tolerance_seconds": 0}}})


# --------------------------------------------------------------- Opsgenie, Datadog, Zabbix
def _alert_bodies() -> dict[str, bytes]:
    from tests.adapters.test_alert_webhooks import (
        DATADOG_TRIGGERED,
        OPSGENIE_CREATE,
        ZABBIX_PROBLEM,
    )

    return {
        "opsgenie": json.dumps(OPSGENIE_CREATE).encode(),
        "datadog": json.dumps(DATADOG_TRIGGERED).encode(),
        "zabbix": json.dumps(ZABBIX_PROBLEM).encode(),
    }


@pytest.mark.parametrize("source", ["opsgenie", "datadog", "zabbix"])
def test_c7_alert_webhooks_are_refused_without_their_token(source: str) -> None:
    gate = _gate(**{source: SignalSourceSettings(bearer_token=SecretStr(f"{source}-token"))})
    c, got = _client(gate)
    body = _alert_bodies()[source]
    for headers in ({}, {"Authorization": "Bearer am-token"}, {"Authorization": "Bearer x"}):
        r = c.post(f"/signals/{source}", content=body, headers=headers)
        assert r.status_code == 401, headers
    assert got == []
    # another source's token (Alertmanager's) does not open this route, nor does ?source=
    r = c.post("/signals/generic?source=" + source, content=GENERIC)
    assert r.status_code == 401 and got == []


@pytest.mark.parametrize("source", ["opsgenie", "datadog", "zabbix"])
def test_c7_alert_webhooks_with_their_token_become_signals_of_that_source(source: str) -> None:
    gate = _gate(
        **{
            source: SignalSourceSettings(
                bearer_token=SecretStr(f"{source}-token"), username="u", password=SecretStr("p")
            )
        }
    )
    c, got = _client(gate)
    body = _alert_bodies()[source]
    r = c.post(
        f"/signals/{source}", content=body, headers={"Authorization": f"Bearer {source}-token"}
    )
    assert r.status_code == 202, r.text
    r = c.post(f"/signals/{source}", content=body, headers=_basic("u", "p"))
    assert r.status_code == 202, r.text
    assert [s.source for s in got] == [source, source]
    assert not any(s.aiops_trusted for s in got)


def test_c7_an_unconfigured_alert_webhook_source_is_refused() -> None:
    c, got = _client()
    r = c.post("/signals/datadog", content=_alert_bodies()["datadog"])
    assert r.status_code == 401 and got == []


def test_alert_webhook_with_a_bad_payload_names_the_field() -> None:
    gate = _gate(zabbix=SignalSourceSettings(bearer_token=SecretStr("z")))
    c, got = _client(gate)
    r = c.post(
        "/signals/zabbix", content=b'{"event_id": "1"}', headers={"Authorization": "Bearer z"}
    )
    assert r.status_code == 400 and "event_value" in r.text and got == []
