"""``opshand runbook test`` and ``opshand patch-cycle --dry-run`` end to end on a small estate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.autonomy import register_autonomy_commands

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[typer.Typer, list[str]]:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "300")
    monkeypatch.chdir(ROOT)
    app = typer.Typer()
    register_autonomy_commands(app)

    @app.callback()
    def _root() -> None:  # a group, so sub-commands keep their names
        pass

    return app, ["--data-dir", str(tmp_path / "data")]


def test_cli_runbook_test_shows_proposals_and_decisions(cli: tuple[typer.Typer, list[str]]) -> None:
    app, dd = cli
    res = CliRunner().invoke(
        app,
        [
            "runbook",
            "test",
            "examples/runbooks.yaml",
            "--signals",
            "examples/signals",
            "--json",
            *dd,
        ],
    )
    assert res.exit_code == 0, res.output
    rows = {r["file"]: r for r in json.loads(res.stdout)}
    portal = rows["alertmanager_portal_down.json"]
    assert (portal["runbook"], portal["action"], portal["target"]) == (
        "restart-down-service",
        "service.restart",
        "service:contoso-portal",
    )
    assert portal["decision"] in ("auto", "consent", "deny")
    assert rows["generic_disk_full.json"]["runbook"] is None
    pd = rows["pagerduty_portal_triggered.json"]
    assert (pd["runbook"], pd["target"]) == ("pagerduty-service-restart", "service:contoso-portal")
    injected = rows["generic_injected.json"]
    assert injected["target"] == "service:contoso-portal"  # the injected text added nothing


def test_cli_runbook_test_reports_a_bad_runbook(
    cli: tuple[typer.Typer, list[str]], tmp_path: Path
) -> None:
    app, dd = cli
    bad = tmp_path / "rb.yaml"
    bad.write_text("version: 1\nrunbooks:\n  - id: x\n    match: {}\n    action: {kind: nope}\n")
    res = CliRunner().invoke(app, ["runbook", "test", str(bad), *dd])
    assert res.exit_code == 2
    assert "rb.yaml:5" in res.output and "action.kind" in res.output


def test_cli_patch_cycle_dry_run_plans_without_changing(cli: tuple[typer.Typer, list[str]]) -> None:
    app, dd = cli
    res = CliRunner().invoke(
        app, ["patch-cycle", "--dry-run", "--client", "contoso", "--json", *dd]
    )
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)  # the staged cycle's preview (the default)
    assert set(plan["clients"]) == {"contoso"}
    hosts = [h for st in plan["clients"]["contoso"]["stages"] for h in st["hosts"]]
    assert hosts and all(h.startswith("contoso") for h in hosts)
