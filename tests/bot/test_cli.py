"""The ``opshand`` command line, driven like a person would (typer's runner, real bootstrap)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "data"


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_help_lists_the_commands() -> None:
    code, text = _run("--help")
    assert code == 0
    for cmd in ("ask", "plan", "demo", "serve", "twin", "audit", "policy"):
        assert cmd in text


def test_ask_blast_radius_json_from_a_fresh_data_dir(data_dir: Path) -> None:
    code, text = _run(
        "ask", "what depends on contoso-ny-db-prod-01", "--json", "--data-dir", str(data_dir)
    )
    assert code == 0, text
    data = json.loads(text)
    assert data["tool_calls"][0]["name"] == "twin_blast_radius"
    assert data["tool_calls"][0]["args"] == {"entity": "host:contoso-ny-db-prod-01"}
    assert "contoso-ny-db-prod-01" in data["answer"]


def test_plan_rehearses_and_decides_without_executing(data_dir: Path) -> None:
    code, text = _run(
        "plan", "host.reboot", "contoso-ny-bkp-prod-01", "--json", "--data-dir", str(data_dir)
    )
    assert code == 0, text
    data = json.loads(text)
    assert data["decision"]["outcome"] == "consent"
    assert data["plan"]["targets"] == ["host:contoso-ny-bkp-prod-01"]
    replicas = next(i for i in data["plan"]["invariants"] if i["id"] == "replicas")
    assert replicas["passed"] is False
    # nothing was recorded or executed: plan is a dry run
    code, text = _run("audit", "verify", "--json", "--data-dir", str(data_dir))
    assert code == 0 and json.loads(text)["ok"] is True


def test_plan_unknown_target_says_what_is_close(data_dir: Path) -> None:
    code, text = _run("plan", "host.reboot", "contoso-ny-bkp-prod-09", "--data-dir", str(data_dir))
    assert code == 2, "a misspelt target is a usage error"
    assert "Did you mean" in text and "contoso-ny-bkp-prod-0" in text


def test_plan_unknown_action_names_the_nearest(data_dir: Path) -> None:
    code, text = _run("plan", "host.reboto", "contoso-ny-web-prod-01", "--data-dir", str(data_dir))
    assert code == 2
    assert "unknown action 'host.reboto'; did you mean 'host.reboot'?" in text


def test_policy_test_runs_the_example_cases() -> None:
    code, text = _run("policy", "test")
    assert code == 0, text
    assert "pass" in text.lower()


def test_broken_policy_stops_start_up_with_file_rule_and_position(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "version: 1\n"
        "defaults: {decision: consent, approvers: approvers, quorum: 1, expires_in: 1h}\n"
        "rules:\n"
        "  - id: broken-rule\n"
        "    when: input.action ==\n"
        "    decision: deny\n"
        "    reason: never\n"
    )
    monkeypatch.setenv("OPSHAND_POLICY_FILE", str(bad))
    code, text = _run("ask", "help", "--data-dir", str(data_dir))
    assert code == 2
    flat = " ".join(text.split())
    assert "policy.yaml" in flat and "broken-rule" in flat and ":5:" in flat


def test_policy_explain_shows_input_and_matches(data_dir: Path) -> None:
    code, text = _run(
        "ask", "reboot contoso-ny-bkp-prod-01 now", "--json", "--data-dir", str(data_dir)
    )
    assert code == 0, text
    ref = json.loads(text)["changes"][0]["id"]
    code, text = _run("policy", "explain", ref, "--data-dir", str(data_dir))
    assert code == 0, text
    assert '"action": "host.reboot"' in text
    assert "prod-reboot-or-patch: match" in text


def test_ask_says_a_proposal_once_then_its_decision_with_reasons_as_bullets(
    data_dir: Path,
) -> None:
    code, text = _run("ask", "reboot contoso-ny-bkp-prod-01 now", "--data-dir", str(data_dir))
    assert code == 0, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("I proposed CR-") and "contoso-ny-bkp-prod-01" in lines[0]
    assert text.count("waiting for consent") == 1  # the decision line, not the answer too
    assert re.match(r"^CR-\d+: waiting for consent \(1 of ", lines[1])
    assert len(lines) > 2 and all(line.startswith("  • ") for line in lines[2:])
    assert ".;" not in text and "needs_consent" not in text
