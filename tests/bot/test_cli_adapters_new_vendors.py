"""``opshand adapters check`` lists the MSP-stack clients (Datto RMM, ConnectWise, Sentinel,
Active Directory, Veeam, FortiGate) with their state, over their documentation-built fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import typer
from typer.testing import CliRunner

from adapters.registry import Integration
from adapters.resilient import CONTRACT_METHODS
from bot.cli.adapters import IntegrationsLoader, register_adapters_command
from tests.adapters.registry_cases import build_case
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.harnesses import SECRETS

runner = CliRunner()


def _app(load: IntegrationsLoader) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """opshand (test root)."""

    register_adapters_command(app, load=load)
    return app


def _msp_stack() -> dict[str, Integration]:
    t = FakeTime()
    built = {
        category: build_case(name, t)[0]
        for category, name in (
            ("rmm", "datto_rmm"),
            ("psa", "connectwise"),
            ("siem", "sentinel"),
            ("backup", "veeam"),
            ("firewall", "fortigate"),
        )
    }
    # LDAP is not HTTP: the registry builds it without a transport, so the mock directory
    # comes in through the harness.
    built["identity"] = Integration(
        "identity", "active_directory", hs.active_directory(t).client, "ldaps://dc01"
    )
    return built


def test_adapters_check_lists_every_new_client_with_its_state() -> None:
    @contextmanager
    def load(_d: Path | None, _s: Path | None) -> Iterator[Mapping[str, Integration]]:
        yield _msp_stack()

    res = runner.invoke(_app(load), ["adapters", "check", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["category"]: r for r in json.loads(res.output)}
    assert {c: (r["vendor"], r["status"]) for c, r in rows.items()} == {
        "rmm": ("datto_rmm", "ok"),
        "psa": ("connectwise", "ok"),
        "siem": ("sentinel", "ok"),
        "identity": ("active_directory", "ok"),
        "backup": ("veeam", "ok"),
        "firewall": ("fortigate", "ok"),
    }
    assert all(r["capabilities"] == list(CONTRACT_METHODS[c]) for c, r in rows.items())
    assert not any(s in res.output for s in SECRETS)
