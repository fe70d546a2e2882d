"""The configuration reference is generated from the settings model and kept in step."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from bot.settings_doc import DOC_PATH, entries, main, render


def test_committed_reference_matches_the_generator() -> None:
    assert DOC_PATH.read_text() == render(), "run: python -m bot.settings_doc"
    assert main(["--check"]) == 0


def test_every_setting_is_listed_with_its_environment_variable() -> None:
    found = {e.key: e for e in entries()}
    for name in Settings.model_fields:
        assert name in found or any(k.startswith(name + ".") for k in found)
    token = found["slack.bot_token"]
    assert token.env == "OPSHAND_SLACK__BOT_TOKEN"
    assert "xoxb" in token.doc
    assert token.default == "(secret, local default)"
    assert found["database_url"].default == "unset"
    assert "| `slack.port` | `OPSHAND_SLACK__PORT` | `int` | `3000` |" in render()


def test_production_example_loads_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSHAND_DATABASE_URL", "postgresql+psycopg://opshand@db:5432/opshand")
    example = DOC_PATH.parent.parent / "examples" / "settings.production.yaml"
    s = Settings.load(example)
    assert s.slack.mode == "socket" and s.log_format == "json"
    assert s.db_url.startswith("postgresql")
    # no secret is written in the file itself
    assert "xoxb-" not in "\n".join(
        line for line in example.read_text().splitlines() if not line.lstrip().startswith("#")
    )


def test_a_nested_environment_variable_keeps_the_rest_of_the_files_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSHAND_SLACK__APP_TOKEN", "xapp-1-example")
    monkeypatch.setenv("OPSHAND_SIGNALS__SOURCES__ALERTMANAGER__BEARER_TOKEN", "am-example")
    s = Settings.load(DOC_PATH.parent.parent / "examples" / "settings.production.yaml")
    assert s.slack.app_token is not None
    assert s.slack.mode == "socket"
    am = s.signal_sources()["alertmanager"]
    assert am.bearer_token is not None and am.aiops_trusted
