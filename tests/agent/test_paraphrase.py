"""The paraphrase corpus (evals/paraphrase.tsv): at least 500 labelled requests, 150 held out, in
every category; the offline model passes >= 95% of the held-out part with no false
authorisation; the report gives the pass rate per category."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent.chat.models import offline_model
from agent.eval import ParaphraseReport, load_paraphrases, run_paraphrases
from agent.eval.paraphrase import ParaphraseRow

CATEGORIES = {
    *(f"question-{q}" for q in ("status", "health", "changes", "patch", "owner", "blast")),
    "question-schedule",
    *(
        f"change-{a}"
        for a in (
            "reboot",
            "patch",
            "restart",
            "rotate",
            "disable",
            "revoke",
            "restore",
            "block",
            "throttle",
            "ticket",
        )
    ),
    "follow-up",
    "refusal",
    "verb-question",
    "shared-names",
}


def test_the_corpus_is_large_has_a_held_out_part_and_every_category() -> None:
    rows = load_paraphrases()
    assert len(rows) >= 500
    held = [r for r in rows if r.split == "heldout"]
    assert len(held) >= 150
    assert {r.category for r in rows} == CATEGORIES
    assert {r.category for r in held} == CATEGORIES
    texts = Counter((r.text, r.after) for r in rows)
    assert [t for t, n in texts.items() if n > 1] == []


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "p.tsv"
    bad.write_text("heldout\tx\tperhaps\treboot it\n")
    with pytest.raises(ValueError, match=r"p.tsv:1: unknown expectation"):
        load_paraphrases(bad)


@pytest.fixture(scope="module")
def report() -> ParaphraseReport:
    return run_paraphrases(lambda world: offline_model(lambda: world.ops.graph))


def test_held_out_part_passes_95_percent_with_no_false_authorisation(
    report: ParaphraseReport,
) -> None:
    held = report.split_summary("heldout")
    failed = [f"{r.row.text!r}: {r.why}" for r in report.results if not r.passed]
    assert held["false_authorisations"] == 0, failed
    assert report.split_summary("train")["false_authorisations"] == 0, failed
    assert held["pass_rate"] >= 0.95, failed
    assert set(held["by_category"]) == CATEGORIES


def test_training_part_passes(report: ParaphraseReport) -> None:
    train = report.split_summary("train")
    failed = [f"{r.row.text!r}: {r.why}" for r in report.results if not r.passed]
    assert train["pass_rate"] >= 0.97, failed


def test_a_change_on_a_question_row_counts_as_a_false_authorisation() -> None:
    rows = [
        ParaphraseRow("heldout", "refusal", "none", "reboot contoso-ny-web-prod-01"),
        ParaphraseRow("heldout", "refusal", "none", "what depends on contoso-ny-web-prod-01?"),
    ]
    rep = run_paraphrases(lambda world: offline_model(lambda: world.ops.graph), rows)
    s = rep.split_summary("heldout")
    assert (s["passed"], s["false_authorisations"]) == (1, 1)
    assert s["by_category"] == {"refusal": {"passed": 1, "total": 2, "pass_rate": 0.5}}
    assert [f["text"] for f in rep.to_json()["failures"]] == ["reboot contoso-ny-web-prod-01"]
