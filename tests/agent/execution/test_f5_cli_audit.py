"""``opshand audit show|export`` for people and for a SIEM (F5's reading side)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.common import boot

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv("COLUMNS", "200")
    d = tmp_path / "data"
    oh = boot(d)
    try:
        with oh.engine.begin() as conn:
            oh.audit.append(
                conn,
                kind="change.proposed",
                actor="T1:U1",
                change_id="7",
                body={"action": "host.reboot", "reason": "patch night"},
            )
            oh.audit.append(
                conn,
                kind="integration.call",
                actor="system:worker",
                change_id="7",
                body={"target": "host:a", "outcome": "sent"},
            )
            oh.audit.append(
                conn,
                kind="change.proposed",
                actor="T1:U1",
                change_id="8",
                body={"action": "service.restart"},
            )
    finally:
        oh.close()
    return d


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_audit_show_filters_by_change_and_kind(data_dir: Path) -> None:
    code, text = _run("audit", "show", "--change", "CR-7", "--json", "--data-dir", str(data_dir))
    assert code == 0, text
    rows = json.loads(text)
    assert [r["kind"] for r in rows] == ["change.proposed", "integration.call"]
    assert {r["change_id"] for r in rows} == {"7"}
    code, text = _run(
        "audit", "show", "--kind", "integration.*", "--json", "--data-dir", str(data_dir)
    )
    assert [r["body"]["outcome"] for r in json.loads(text)] == ["sent"]
    code, text = _run("audit", "show", "--change", "CR-7", "--data-dir", str(data_dir))
    assert code == 0 and "integration.call" in text and "target=host:a" in text


def test_audit_show_since_and_bad_input(data_dir: Path) -> None:
    code, text = _run(
        "audit", "show", "--since", "2999-01-01", "--json", "--data-dir", str(data_dir)
    )
    assert code == 0 and json.loads(text) == []
    code, text = _run("audit", "show", "--since", "yesterday", "--data-dir", str(data_dir))
    assert code == 2 and "not an ISO 8601 time" in text
    code, text = _run("audit", "show", "--change", "forty-two", "--data-dir", str(data_dir))
    assert code == 2 and "is not a change id" in text


def test_audit_export_writes_json_lines_that_chain(data_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "audit.jsonl"
    code, text = _run("audit", "export", "--out", str(dest), "--data-dir", str(data_dir))
    assert code == 0, text
    lines = [json.loads(x) for x in dest.read_text().splitlines()]
    assert len(lines) >= 3
    for prev, row in itertools.pairwise(lines):
        assert row["prev_hash"] == prev["hash"] and row["seq"] == prev["seq"] + 1
    code, text = _run(
        "audit", "export", "--since", "2999-01-01T00:00Z", "--data-dir", str(data_dir)
    )
    assert code == 0 and "{" not in text
