"""The command line asks instead of guessing: a misspelt host, client, kind or action gets "did
you mean" and exit 2 in every command that takes one; search shows whole names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
TYPO = "contoso-ny-db-prd-01"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPSHAND_SAMPLE_ENDPOINTS", "200")
        path = tmp_path_factory.mktemp("cli") / "data"
        seeded = runner.invoke(app, ["twin", "search", "--limit", "1", "--data-dir", str(path)])
        assert seeded.exit_code == 0, seeded.output
        yield path


def _run(data_dir: Path, *args: str, columns: int = 200) -> tuple[int, str]:
    res = runner.invoke(
        app,
        [*args, "--data-dir", str(data_dir)],
        env={"OPSHAND_SAMPLE_ENDPOINTS": "200", "COLUMNS": str(columns)},
    )
    return res.exit_code, res.output


@pytest.mark.parametrize(
    "args",
    [
        ("twin", "show", TYPO),
        ("twin", "blast", TYPO),
        ("twin", "deps", TYPO),
        ("twin", "path", "contoso-ny-web-prod-01", TYPO),
        ("twin", "path", TYPO, "contoso-ny-web-prod-01"),
        ("plan", "host.reboot", TYPO),
        ("plan", "host.reboot", "contoso-ny-web-prod-01", TYPO),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_misspelt_host_gets_did_you_mean_and_exit_2(data_dir: Path, args: tuple[str]) -> None:
    code, text = _run(data_dir, *args)
    assert code == 2, text
    assert f"I could not find '{TYPO}' in the twin. Did you mean contoso-ny-db-prod-01" in text


def test_an_unknown_action_names_the_nearest_without_quotes(data_dir: Path) -> None:
    code, text = _run(data_dir, "plan", "host.rebot", "contoso-ny-web-prod-01")
    assert code == 2
    assert text.startswith("unknown action 'host.rebot'; did you mean 'host.reboot'?")


_SCOPES = [
    (("twin", "search", "--client", "contsoo"), "Unknown client 'contsoo'. Did you mean contoso?"),
    (("twin", "search", "--client", "Contoso"), "Unknown client 'Contoso'. Did you mean contoso?"),
    (("twin", "stale", "--scope", "contso-ny"), "or site 'contso-ny'. Did you mean contoso-ny?"),
    (("twin", "search", "--kind", "hots"), "Unknown kind 'hots'. Did you mean host?"),
    (("twin", "stale", "--kind", "servce"), "Unknown kind 'servce'. Did you mean service?"),
    (("patch-cycle", "--client", "fabrikan", "--dry-run"), "'fabrikan'. Did you mean fabrikam?"),
]


@pytest.mark.parametrize(("args", "said"), _SCOPES, ids=[" ".join(a[1:3]) for a, _ in _SCOPES])
def test_a_misspelt_client_site_or_kind_is_not_an_empty_answer(
    data_dir: Path, args: tuple[str], said: str
) -> None:
    code, text = _run(data_dir, *args)
    assert code == 2, text
    assert said in text
    assert "found" not in text


def test_a_known_scope_still_answers(data_dir: Path) -> None:
    code, text = _run(data_dir, "twin", "search", "--client", "northwind", "--limit", "3")
    assert code == 0 and "found" in text
    code, text = _run(data_dir, "twin", "stale", "--scope", "Contoso-NY")
    assert code == 0, text


def test_search_shows_whole_names_in_a_narrow_terminal(data_dir: Path) -> None:
    query = ("twin", "search", "KB2267602 on contoso-ny-ws", "--limit", "10")
    code, listed = _run(data_dir, *query, "--json")
    names = [i["name"] for i in json.loads(listed)["items"]]
    assert code == 0 and max(len(n) for n in names) >= 30
    code, text = _run(data_dir, *query, columns=80)
    assert code == 0
    for name in names:  # people copy names back into the next command: never cut or wrapped
        assert name in text
