"""``opshand adapters check`` over MockTransport-backed vendor clients and the sim."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from adapters.integration_config import VENDORS, ConfigError, IntegrationsConfig
from adapters.registry import Integration, build_integrations
from adapters.resilient import CONTRACT_METHODS
from adapters.sim import FaultRule
from bot.cli.adapters import IntegrationsLoader, register_adapters_command
from tests.adapters.registry_cases import CASES, SECRET_FIELD, build_case
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.harnesses import SECRETS
from tests.adapters.vendors.sim_harness import sim_estate

runner = CliRunner()


def _app(load: IntegrationsLoader | None = None) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """opshand (test root)."""

    register_adapters_command(app, load=load)
    return app


def _fixed(built: Mapping[str, Integration]) -> IntegrationsLoader:
    @contextmanager
    def load(_data: Path | None, _settings: Path | None) -> Iterator[Mapping[str, Integration]]:
        yield built

    return load


def _mixed() -> dict[str, Integration]:
    """Okta works, NinjaOne's secret is wrong, Splunk cannot be reached, the rest is the sim."""
    t = FakeTime()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    okta, _ = build_case("okta", t)
    creds = {**CASES["ninjaone"][1]["credentials"], SECRET_FIELD["ninjaone"]: "wrong-secret"}
    ninja, _ = build_case("ninjaone", t, update={"credentials": creds})
    splunk, _ = build_case("splunk", t, transport=httpx.MockTransport(refuse))
    sims = build_integrations(
        IntegrationsConfig(rmm=None, siem=None, identity=None), sim=sim_estate(t), hooks=t.hooks()
    )
    return {"rmm": ninja, "siem": splunk, "identity": okta, **sims}


def test_adapters_check_table_shows_each_integration_and_fails_on_problems() -> None:
    res = runner.invoke(_app(_fixed(_mixed())), ["adapters", "check"], env={"COLUMNS": "250"})
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()

    def row(vendor: str) -> str:
        return next(line for line in lines if f" {vendor} " in line)

    assert "credentials rejected" in row("ninjaone")
    assert "unreachable" in row("splunk")
    assert "credentials accepted" in row("okta") and "rotate_secret" in row("okta")
    assert "https://acme.okta.example" in row("okta")
    assert "(simulated estate)" in res.output and "start_restore" in res.output
    assert "answers (simulated" in row("sim")
    assert not any(s in res.output for s in SECRETS)


def test_adapters_check_json() -> None:
    res = runner.invoke(_app(_fixed(_mixed())), ["adapters", "check", "--json"])
    assert res.exit_code == 1
    data = {row["category"]: row for row in json.loads(res.output)}
    assert list(data) == ["rmm", "siem", "identity", "psa", "backup", "firewall"]
    assert (data["rmm"]["status"], data["rmm"]["error"]) == ("credentials_rejected", "AuthError")
    assert data["siem"]["status"] == "unreachable"
    assert data["identity"]["status"] == "ok"
    assert data["identity"]["capabilities"] == list(CONTRACT_METHODS["identity"])
    assert {data[c]["vendor"] for c in ("psa", "backup", "firewall")} == {"sim"}
    assert all(row["circuit"] == "closed" for row in data.values())
    assert not any(s in res.output for s in SECRETS)


def test_adapters_check_lists_every_vendor_client_with_its_state() -> None:
    res = runner.invoke(_app(_fixed(_mixed())), ["adapters", "check"], env={"COLUMNS": "250"})
    catalogue = res.output.split("Vendor clients", 1)[1].splitlines()

    def row(vendor: str) -> str:
        return next(line for line in catalogue if f" {vendor} " in line)

    assert "credentials rejected" in row("ninjaone")
    assert " ok " in row("okta") and "Okta Management API 2026.06.3" in row("okta")
    assert "not configured" in row("servicenow") and "Table API" in row("servicenow")
    assert all(any(f" {v} " in line for line in catalogue) for v in VENDORS)


def test_adapters_check_json_clients_covers_every_vendor() -> None:
    res = runner.invoke(_app(_fixed(_mixed())), ["adapters", "check", "--json", "--clients"])
    rows = {row["vendor"]: row for row in json.loads(res.output)}
    assert set(rows) == set(VENDORS)
    assert rows["okta"]["state"] == "ok" and rows["ninjaone"]["state"] == "credentials_rejected"
    assert rows["jira_sm"]["state"] == "not_configured"
    assert rows["opnsense"]["api_checked"].startswith("OPNsense")
    assert rows["okta"]["operations"] == list(CONTRACT_METHODS["identity"])
    assert not any(s in res.output for s in SECRETS)


def test_adapters_check_all_sim_passes_and_shows_an_open_circuit() -> None:
    t = FakeTime()
    sim = sim_estate(t)
    built = build_integrations(IntegrationsConfig(), sim=sim, hooks=t.hooks())
    res = runner.invoke(_app(_fixed(built)), ["adapters", "check", "--json"])
    assert res.exit_code == 0, res.output
    assert [row["status"] for row in json.loads(res.output)] == ["ok"] * 6
    sim.faults.add(FaultRule(category="firewall", kind="error"))
    for _ in range(5):
        runner.invoke(_app(_fixed(built)), ["adapters", "check"])
    res = runner.invoke(_app(_fixed(built)), ["adapters", "check", "--json"])
    firewall = next(row for row in json.loads(res.output) if row["category"] == "firewall")
    assert (firewall["status"], firewall["circuit"]) == ("circuit_open", "open")
    assert res.exit_code == 1


def test_adapters_check_settings_error_exits_2() -> None:
    @contextmanager
    def broken(_d: Path | None, _s: Path | None) -> Iterator[Mapping[str, Integration]]:
        raise ConfigError("siem.credentials.token: cannot read secret file '/run/x'")
        yield {}  # pragma: no cover

    res = runner.invoke(_app(broken), ["adapters", "check"])
    assert res.exit_code == 2
    assert "siem.credentials.token" in res.output


def test_adapters_check_default_loader_uses_bootstrap_sim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    res = runner.invoke(
        _app(), ["adapters", "check", "--json", "--data-dir", str(tmp_path / "data")]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["category"], r["vendor"], r["status"]) for r in rows] == [
        (c, "sim", "ok") for c in ("rmm", "psa", "siem", "identity", "backup", "firewall")
    ]
