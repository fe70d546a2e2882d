"""C9: ``opshand demo`` refuses a non-local database or real integrations unless told to."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.run import demo_refusals
from bot.settings import Settings

runner = CliRunner()


def test_demo_refusals_name_each_real_thing(tmp_path: Path) -> None:
    assert demo_refusals(Settings(data_dir=tmp_path)) == []
    local_pg = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert demo_refusals(local_pg) == []
    real = Settings(
        database_url="postgresql+psycopg://opshand@db.internal:5432/opshand",
        slack={"mode": "http"},
        integrations={
            "psa": {
                "vendor": "servicenow",
                "base_url": "https://x.service-now.com",
                "credentials": {"client_id": "opshand-demo", "client_secret": "sn-secret-0001"},
            }
        },
    )
    found = demo_refusals(real)
    assert any("db.internal" in w for w in found)
    assert any("slack.mode" in w for w in found)
    assert any("psa" in w for w in found)


@pytest.mark.parametrize("command", ["demo", "chat"])
def test_demo_against_a_remote_database_does_not_start(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSHAND_DATABASE_URL", "postgresql+psycopg://u:pw@db.example:5432/ops")
    res = runner.invoke(app, [command, "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2, res.output
    assert "Not starting the demo" in res.output and "db.example" in res.output
    assert "--allow-real" in res.output
    assert "pw@" not in res.output  # the URL's password is never echoed
    assert not (tmp_path / "d").exists()
