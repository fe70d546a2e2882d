"""Integrations from settings: vendor clients and the sim built from one config shape."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from adapters.contracts import IdentityContract, RmmContract
from adapters.errors import AuthError
from adapters.health import check_all, check_integration
from adapters.integration_config import ConfigError, IntegrationConfig, IntegrationsConfig
from adapters.registry import build_integration, build_integrations
from adapters.resilient import CONTRACT_METHODS
from adapters.sim import FaultRule, SimEstate
from tests.adapters.registry_cases import CASES, SECRET_FIELD, build_case
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.harnesses import OPTIONS, SECRETS
from tests.adapters.vendors.sim_harness import sim_estate

VENDOR_NAMES = list(CASES)


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_registry_builds_each_vendor_whose_credentials_work(name: str) -> None:
    integration, fake = build_case(name, FakeTime())
    check = check_integration(integration)
    assert check.status == "ok", check
    assert check.capabilities == CONTRACT_METHODS[integration.category]
    assert fake.api_requests(), "the probe reached the vendor"
    integration.close()


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_registry_wrong_secret_is_credentials_rejected_without_retries(name: str) -> None:
    _, raw, _ = CASES[name]
    creds = {**raw["credentials"], SECRET_FIELD[name]: "wrong-secret"}
    t = FakeTime()
    integration, _ = build_case(name, t, update={"credentials": creds})
    check = check_integration(integration)
    assert (check.status, check.summary, check.error) == (
        "credentials_rejected",
        "credentials rejected",
        "AuthError",
    )
    assert t.sleeps == [] and check.circuit == "closed"


@pytest.mark.parametrize("name", ["okta", "ninjaone"])
def test_registry_unreachable_vendor(name: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    t = FakeTime()
    integration, _ = build_case(name, t, transport=httpx.MockTransport(refuse))
    check = check_integration(integration)
    assert (check.status, check.summary) == ("unreachable", "unreachable")


def test_registry_secret_from_file_and_never_printed(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="opshand")
    secret = tmp_path / "okta_token"
    secret.write_text("okta-api-token\n")
    _, raw, _ = CASES["okta"]
    config = IntegrationConfig.model_validate(
        {**raw, "credentials": {"api_token": {"file": str(secret)}}}
    )
    integration, _ = build_case("okta", FakeTime(), update={"credentials": config.credentials})
    assert check_integration(integration).ok
    shown = repr(config) + config.model_dump_json() + repr(integration) + caplog.text
    assert not any(s in shown for s in SECRETS)
    inline = IntegrationConfig.model_validate(raw)
    assert "okta-api-token" not in repr(inline) + inline.model_dump_json()


def test_registry_missing_or_empty_secret_file_names_the_field(tmp_path: Path) -> None:
    _, raw, _ = CASES["splunk"]
    missing = IntegrationConfig.model_validate(
        {**raw, "credentials": {"token": {"file": str(tmp_path / "nope")}}}
    )
    with pytest.raises(ConfigError, match=r"siem\.credentials\.token: cannot read secret file"):
        build_integration("siem", missing)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    blank = IntegrationConfig.model_validate(
        {**raw, "credentials": {"token": {"file": str(empty)}}}
    )
    with pytest.raises(ConfigError, match="is empty"):
        build_integration("siem", blank)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"vendor": "okta", "credentials": {"api_token": "x"}}, "okta needs base_url"),
        ({"vendor": "okta", "base_url": "https://o.example"}, "needs credential"),
        (
            {"vendor": "okta", "base_url": "https://o.example",
             "credentials": {"api_token": "x", "pw": "y"}},
            "takes no credential",
        ),
        (
            {"vendor": "okta", "base_url": "https://o.example", "credentials": {"api_token": "x"},
             "options": {"page_sise": 3}},
            "takes no option",
        ),
        (
            {"vendor": "jira_sm", "base_url": "https://j.example",
             "credentials": {"email": "a@b", "api_token": "x"}},
            "needs option.*project_key",
        ),
        ({"vendor": "servicenow", "base_url": "https://s.example",
          "credentials": {"username": "u"}}, "or client_id and client_secret"),
        ({"vendor": "splunk", "base_url": "ftp://s.example", "credentials": {"token": "x"}},
         "https://"),
        ({"vendor": "sim", "credentials": {"token": "x"}}, "sim takes no"),
        ({"vendor": "acme"}, "vendor"),
    ],
)  # fmt: skip
def test_registry_config_mistakes_fail_with_a_sentence(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IntegrationConfig.model_validate(entry)


def test_registry_vendor_in_the_wrong_category_is_refused() -> None:
    _, raw, _ = CASES["okta"]
    with pytest.raises(ValidationError, match="rmm: okta is an integration for identity"):
        IntegrationsConfig.model_validate({"rmm": raw})
    with pytest.raises(ConfigError, match="okta is an integration for identity"):
        build_integration("rmm", IntegrationConfig.model_validate(raw))
    with pytest.raises(ValidationError):
        IntegrationsConfig.model_validate({"ticketing": raw})  # a typo fails at start-up


def test_registry_default_is_the_sim_for_every_category() -> None:
    t = FakeTime()
    made: list[SimEstate] = []

    def factory() -> SimEstate:
        made.append(sim_estate(t))
        return made[-1]

    built = build_integrations(IntegrationsConfig(), sim=factory, hooks=t.hooks())
    assert list(built) == ["rmm", "psa", "siem", "identity", "backup", "firewall"]
    assert len(made) == 1  # one estate behind every category
    assert isinstance(built["rmm"].client, RmmContract)
    assert isinstance(built["identity"].client, IdentityContract)
    checks = check_all(built.values())
    assert [c.status for c in checks] == ["ok"] * 6
    assert {c.integration for c in checks} == {f"sim-{c}" for c in built}
    assert all(c.capabilities == CONTRACT_METHODS[c.category] for c in checks)


def test_registry_sim_needs_an_estate_and_categories_can_be_left_out() -> None:
    with pytest.raises(ConfigError, match="simulated estate"):
        build_integrations(IntegrationsConfig())
    only = IntegrationsConfig(psa=None, siem=None, identity=None, backup=None, firewall=None)
    assert list(build_integrations(only, sim=sim_estate(FakeTime()))) == ["rmm"]


def test_registry_sim_faults_show_as_the_vendor_statuses() -> None:
    t = FakeTime()
    sim = sim_estate(t)
    config = IntegrationConfig(resilience=OPTIONS.model_copy(update={"max_attempts": 1}))
    rmm = build_integration("rmm", config, sim=sim, hooks=t.hooks())
    sim.faults.add(FaultRule(category="rmm", kind="auth", status=403, times=1))
    assert check_integration(rmm).status == "credentials_rejected"
    with pytest.raises(AuthError):  # the wrapped client raises the contract's errors
        sim.faults.add(FaultRule(category="rmm", kind="auth", times=1))
        rmm.client.list_devices()
    sim.faults.add(FaultRule(category="rmm", kind="error"))
    statuses = [check_integration(rmm).status for _ in range(OPTIONS.failure_threshold + 1)]
    assert statuses[0] == "failing" and statuses[-1] == "circuit_open"
    assert rmm.circuit == "open"


def test_registry_environment_shape_round_trips() -> None:
    """The exact shape a settings file holds, including a secret file reference."""
    raw = {
        "rmm": CASES["ninjaone"][1],
        "identity": {**CASES["okta"][1], "resilience": {"max_attempts": 2, "cool_down": 10}},
        "psa": None,
        "siem": {"vendor": "sim"},
        "backup": {"vendor": "veeam", "base_url": "https://vbr.example:9419",
                   "credentials": {"username": "u", "password": {"file": "/run/secrets/veeam"}}},
    }  # fmt: skip
    config = IntegrationsConfig.model_validate(raw)
    assert set(config.entries()) == {"rmm", "identity", "siem", "backup", "firewall"}
    identity = config.identity
    assert identity is not None and identity.resilience.max_attempts == 2
