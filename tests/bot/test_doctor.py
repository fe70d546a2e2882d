"""``opshand doctor`` on a good and on broken configurations, through the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from bot.cli.doctor import register_doctor_command
from bot.doctor import run_doctor
from bot.localslack import LocalSlack

TOKEN = "xoxb-doctor-0001-abcdef"
SECRET = "doctor-signing-secret-0001"


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    s = LocalSlack(signing_secret=SECRET, bot_token=TOKEN)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register_doctor_command(app)
    return app


def write(tmp_path: Path, ws: LocalSlack, **changes: Any) -> Path:
    doc: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "slack": {
            "mode": "http",
            "bot_token": TOKEN,
            "signing_secret": SECRET,
            "api_url": ws.api_url,
            "team_id": ws.team_id,
        },
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            doc.setdefault(key, {}).update(value)
        else:
            doc[key] = value
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(cli: typer.Typer, *args: str) -> tuple[int, list[dict[str, str]]]:
    res = CliRunner().invoke(cli, ["doctor", "--json", *args])
    start = res.output.index("[")
    end = res.output.rindex("]") + 1
    return res.exit_code, json.loads(res.output[start:end])


def by_check(findings: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {f["check"]: f for f in findings}


def test_good_configuration_passes_after_one_migrate(
    tmp_path: Path, slack: LocalSlack, cli: typer.Typer
) -> None:
    settings = write(tmp_path, slack)
    code, findings = run(cli, "--settings", str(settings))
    # no database yet: opshand would create it, so a warning with the command, not a failure
    assert code == 0
    assert by_check(findings)["database"]["status"] == "warn"
    assert by_check(findings)["database"]["fix"].startswith("Run `opshand migrate`")
    assert not (tmp_path / "data" / "opshand.db").exists(), "doctor must not create anything"
    migrated = CliRunner().invoke(cli, ["migrate", "--settings", str(settings)])
    assert migrated.exit_code == 0, migrated.output
    assert "revision" in migrated.output
    code, findings = run(cli, "--settings", str(settings))
    found = by_check(findings)
    assert code == 0, findings
    assert found["settings"]["status"] == "ok"
    assert found["migrations"]["status"] == "ok"
    assert found["slack auth"]["status"] == "ok"
    assert found["policy"]["status"] == "ok"
    assert found["runbooks"]["status"] == "ok"
    # SQLite and the sim work, but are not what production should run on: said, not failed
    assert found["database"]["status"] == "warn" and "PostgreSQL" in found["database"]["fix"]
    assert found["integrations"]["status"] == "warn"
    assert TOKEN not in json.dumps(findings) and SECRET not in json.dumps(findings)


def test_broken_configuration_names_each_problem_and_its_fix(
    tmp_path: Path, slack: LocalSlack, cli: typer.Typer
) -> None:
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("rules:\n  - name: x\n    when: 'action ==='\n    decide: maybe\n")
    bad_runbooks = tmp_path / "runbooks.yaml"
    bad_runbooks.write_text("runbooks:\n  - id: r1\n    frobnicate: true\n")
    settings = write(
        tmp_path,
        slack,
        policy_file=str(bad_policy),
        runbooks_file=str(bad_runbooks),
        slack={"bot_token": "xoxb-revoked-0000", "signing_secret": "local-signing-secret"},
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "opshand.db").write_bytes(b"")  # an empty database: no tables
    code, findings = run(cli, "--settings", str(settings))
    found = by_check(findings)
    assert code == 1
    assert found["migrations"]["status"] == "fail"
    assert "opshand migrate" in found["migrations"]["fix"]
    assert found["slack auth"]["status"] == "fail"
    assert "reinstall" in found["slack auth"]["fix"]
    assert found["slack signing secret"]["status"] == "fail"
    assert found["policy"]["status"] == "fail"
    assert found["runbooks"]["status"] == "fail"
    assert "xoxb-revoked-0000" not in json.dumps(findings)


def test_wrong_workspace_and_missing_app_token_are_reported(
    tmp_path: Path, slack: LocalSlack
) -> None:
    settings = write(tmp_path, slack, slack={"team_id": "T0OTHER99", "mode": "socket"})
    found = by_check([f.model_dump() for f in run_doctor(settings)])
    assert found["slack team"]["status"] == "fail"
    assert slack.team_id in found["slack team"]["fix"]
    assert found["slack app token"]["status"] == "fail"
    assert "xapp-" in found["slack app token"]["detail"]


def test_unknown_setting_and_unreachable_slack(tmp_path: Path, slack: LocalSlack) -> None:
    settings = write(tmp_path, slack, slack={"bot_tokn": "x"})
    (only,) = run_doctor(settings)
    assert only.status == "fail" and "slack.bot_tokn" in only.detail
    settings = write(tmp_path, slack, slack={"api_url": "http://127.0.0.1:9/api/"})
    found = by_check([f.model_dump() for f in run_doctor(settings)])
    assert found["slack auth"]["status"] == "fail"
    assert "unreachable" in found["slack auth"]["detail"].lower()


def test_c7_open_signal_source_is_a_warning_and_none_configured_too(
    tmp_path: Path, slack: LocalSlack
) -> None:
    settings = write(tmp_path, slack, signals={"sources": {"alertmanager": {"open": True}}})
    found = by_check([f.model_dump() for f in run_doctor(settings)])
    assert found["signals"]["status"] == "warn"
    assert "'alertmanager' is open" in found["signals"]["detail"]
    settings = write(tmp_path, slack)
    found = by_check([f.model_dump() for f in run_doctor(settings)])
    assert found["signals"]["status"] == "warn" and "401" in found["signals"]["detail"]
    settings = write(tmp_path, slack, signals={"sources": {"siem": {"secret": "s3cret-value"}}})
    findings = [f.model_dump() for f in run_doctor(settings)]
    assert by_check(findings)["signals"]["status"] == "ok"
    assert "s3cret-value" not in json.dumps(findings)
