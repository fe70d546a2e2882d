"""``opshand digest``: prints any day, refuses a bad date."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.digest import register_digest_command
from twin.model import utcnow


def _app() -> typer.Typer:
    app = typer.Typer()
    register_digest_command(app)

    @app.command()
    def other() -> None:
        """A second command, so typer keeps sub-command names."""

    return app


def test_digest_prints_a_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    result = CliRunner().invoke(
        _app(), ["digest", "--date", "2026-01-05", "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "opshand daily digest — Mon 05 Jan 2026" in result.output
    assert "Estimated time saved" in result.output and "Last 14 days" in result.output


def test_digest_refuses_a_bad_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["digest", "--date", "05/01/2026"])
    assert result.exit_code == 2
    assert "is not a date; use today, yesterday or YYYY-MM-DD" in result.output


def test_digest_without_a_date_prints_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `/opshand digest` does: the day so far, not yesterday (empty on a first run)."""
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    result = CliRunner().invoke(_app(), ["digest", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert f"opshand daily digest — {utcnow().date():%a %d %b %Y}" in result.output
    assert "*" not in result.output and "```" not in result.output
