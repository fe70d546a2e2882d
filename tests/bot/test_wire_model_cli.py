"""``opshand ask`` and ``opshand doctor --model-call`` against a local OpenAI-compatible server.

The server is the scripted one of ``tests/agent/test_wire_failures.py``; the real
``langchain-openai`` client talks to it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.doctor.model import model_findings
from bot.settings import Settings
from tests.openai_server import Serve, error_step, serving

runner = CliRunner()
KEY = "sk-wire-cli-key-0123456789abcdef"


@pytest.fixture
def serve() -> Iterator[Serve]:
    yield from serving()


def _env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("OPSHAND_MODEL__PROVIDER", "openai-compatible")
    monkeypatch.setenv("OPSHAND_MODEL__NAME", "wire-model")
    monkeypatch.setenv("OPSHAND_MODEL__BASE_URL", url)
    monkeypatch.setenv("OPSHAND_MODEL__API_KEY", KEY)


def test_ask_exits_non_zero_and_says_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    server = serve([error_step(401, "invalid_api_key")])
    _env(monkeypatch, server.url)
    res = runner.invoke(app, ["ask", "anything new?", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 1, res.output
    assert "refused the API key" in res.output and KEY not in res.output


def test_ask_answers_and_exits_zero_when_the_model_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    server = serve([{"content": "All quiet."}])
    _env(monkeypatch, server.url)
    res = runner.invoke(app, ["ask", "anything new?", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0 and "All quiet." in res.output


def test_doctor_model_call_reports_the_provider_answer_or_failure(
    tmp_path: Path, serve: Any
) -> None:
    def settings(url: str) -> Settings:
        return Settings(
            data_dir=tmp_path,
            model={"provider": "openai-compatible", "name": "wire-model", "base_url": url},
        )

    refused = serve([error_step(404, "model_not_found")])
    found = {f["check"]: f for f in model_findings(settings(refused.url), call=True)}
    assert found["model call"]["status"] == "fail"
    assert "does not know the model" in found["model call"]["detail"]
    assert refused.requests[0]["max_completion_tokens"] == 1 or (
        refused.requests[0].get("max_tokens") == 1
    )
    fine = serve([{"content": "ok"}])
    found = {f["check"]: f for f in model_findings(settings(fine.url), call=True)}
    assert found["model call"]["status"] == "ok", found["model call"]
    res = runner.invoke(app, ["doctor", "--help"])
    assert "--model-call" in res.output


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        (
            "anthropic",
            "pip install langchain-anthropic"
            if importlib.util.find_spec("langchain_anthropic") is None
            else "ANTHROPIC_API_KEY",
        ),
        ("openai", "set model.api_key or OPENAI_API_KEY"),
    ],
)
def test_ask_with_an_unusable_model_says_why_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, words: str
) -> None:
    monkeypatch.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("OPSHAND_MODEL__PROVIDER", provider)
    monkeypatch.setenv("OPSHAND_MODEL__NAME", "some-model")
    res = runner.invoke(app, ["ask", "hi", "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2, res.output
    assert words in res.output and "Traceback" not in res.output
