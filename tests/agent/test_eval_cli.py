"""``opshand eval``: the command's JSON report and its clear errors."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_eval_cli_reports_the_paraphrase_corpus_per_category(tmp_path: Path) -> None:
    corpus = tmp_path / "p.tsv"
    corpus.write_text(
        "# split\tcategory\texpect\tsentence\n"
        "heldout\tquestion-blast\tcall:twin_blast_radius;entity=host:contoso-ny-db-prod-01\t"
        "what breaks if contoso-ny-db-prod-01 goes down?\n"
        "heldout\trefusal\tnone\tdon't reboot contoso-ny-web-prod-01\n"
        "train\tfollow-up\tcall:change_status;change_id=$CR\tstatus?\t"
        "reboot contoso-ny-web-prod-01\n"
    )
    args = ["eval", "--model", "offline", "--category", "journal", "--paraphrase"]
    res = CliRunner().invoke(app, [*args, "--paraphrase-file", str(corpus), "--json"])
    assert res.exit_code == 0, res.output
    para = json.loads(res.stdout)["paraphrase"]
    assert para["heldout"]["by_category"] == {
        "question-blast": {"passed": 1, "total": 1, "pass_rate": 1.0},
        "refusal": {"passed": 1, "total": 1, "pass_rate": 1.0},
    }
    assert para["train"]["passed"] == 1 and para["heldout"]["false_authorisations"] == 0
    table = CliRunner().invoke(app, [*args, "--paraphrase-file", str(corpus)])
    assert "paraphrase corpus" in table.stdout and "question-blast" in table.stdout
    plain = CliRunner().invoke(
        app, ["eval", "--model", "scripted", "--category", "journal", "--json"]
    )
    assert "paraphrase" not in json.loads(plain.stdout)
