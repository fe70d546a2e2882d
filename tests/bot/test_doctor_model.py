"""``opshand doctor`` checks the model: its package, its key, and a one-token call when asked."""

from __future__ import annotations

from pathlib import Path

from bot.doctor.model import model_findings
from bot.settings import Settings


def _by_check(s: Settings, **kw: object) -> dict[str, dict[str, str]]:
    return {f["check"]: f for f in model_findings(s, **kw)}  # type: ignore[arg-type]


def test_offline_model_needs_nothing(tmp_path: Path) -> None:
    assert _by_check(Settings(data_dir=tmp_path))["model"]["status"] == "ok"


def test_missing_key_is_named_with_the_setting_and_the_variable(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, model={"provider": "openai", "name": "gpt-x"})
    found = _by_check(s, environ={})
    assert found["model package"]["status"] == "ok"
    assert found["model key"]["status"] == "fail"
    assert "model.api_key" in found["model key"]["fix"]
    assert "OPENAI_API_KEY" in found["model key"]["fix"]
    found = _by_check(s, environ={"OPENAI_API_KEY": "sk-from-env-0001"})
    assert found["model key"]["status"] == "ok"
    assert "model call" not in found  # no call unless asked


def test_missing_provider_package_says_what_to_install(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path,
        model={"provider": "openai-compatible", "name": "m", "base_url": "http://127.0.0.1:9/v1"},
    )
    s.model.fallback = "anthropic:claude-x"
    found = _by_check(s, environ={})
    assert found["model key"]["status"] == "ok"  # a local server needs no key
    fb = found["model fallback"]
    assert fb["status"] == "fail" and fb["fix"] == "pip install langchain-anthropic"
