"""``opshand eval``: the command's JSON report and its clear errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.eval import eval_command

app = typer.Typer()
app.command("eval")(eval_command)


@app.command()
def _other() -> None:  # a second command keeps ``eval`` a named sub-command, as in bot.cli
    pass


def test_eval_cli_json_report_for_one_category() -> None:
    res = CliRunner().invoke(
        app, ["eval", "--model", "scripted", "--category", "journal", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    s = data["summary"]
    assert s["model"] == "scripted" and s["cases"] == len(data["cases"]) >= 5
    assert s["by_category"] == {"journal": {"passed": s["passed"], "total": s["cases"]}}
    assert {"id", "passed", "tool_calls", "tokens", "seconds", "failures"} <= set(data["cases"][0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gemini:pro"], "unknown model provider"),
        (["--model", "openai-compatible:x"], "needs base_url"),
        (["--model", "openai:x", "--api-key-env", "OPSHAND_EVAL_NO_SUCH_KEY"], "is empty"),
        (["--case", "no-such-case"], "No scenarios selected"),
    ],
)
def test_eval_cli_clear_errors(args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["eval", *args])
    assert res.exit_code == 2
    assert message in res.output
