from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_defaults_are_the_embedded_laptop_setup() -> None:
    s = Settings()
    assert s.db_url.startswith("sqlite:///")
    assert s.model.provider == "offline"
    assert s.slack.mode == "local"
    assert s.integrations.rmm is not None and s.integrations.rmm.vendor == "sim"


def test_environment_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSHAND_SLACK__TEAM_ID", "T0PROD")
    monkeypatch.setenv("OPSHAND_AUTONOMY__MAX_AUTO_PER_HOUR", "7")
    s = Settings()
    assert s.slack.team_id == "T0PROD" and s.autonomy.max_auto_per_hour == 7


def test_a_typo_in_the_settings_file_fails_at_start_up(tmp_path: Path) -> None:
    f = tmp_path / "settings.yaml"
    f.write_text("slack:\n  singing_secret: oops\n")
    with pytest.raises(ValidationError, match="singing_secret"):
        Settings.load(f)


def test_integration_without_base_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSHAND_INTEGRATIONS__FIREWALL__VENDOR", "opnsense")
    with pytest.raises(ValidationError, match="base_url"):
        Settings()


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSHAND_SLACK__BOT_TOKEN", "xoxb-canary-123456")
    s = Settings()
    assert "xoxb-canary-123456" not in repr(s) and "xoxb-canary-123456" not in str(s)


def test_settings_inbox_sweep_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValidationError, match=r"inbox.sweep_seconds \(30.0\) must be above 0"):
        Settings(inbox={"sweep_seconds": 30, "lease_seconds": 10})
    ok = Settings(inbox={"sweep_seconds": 1, "lease_seconds": 3})
    assert (ok.inbox.sweep_seconds, ok.inbox.lease_seconds) == (1, 3)
