"""docs/RELIABILITY.md is the shared scenario list, and tests cite only ids it defines."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "RELIABILITY.md"
ID_ROW = re.compile(r"^\| ([A-Z][0-9]{1,2}) \|", flags=re.M)
CITED = re.compile(r"\bdef test_([a-g][0-9]{1,2})_")


def _ids(path: Path) -> list[str]:
    return ID_ROW.findall(path.read_text(encoding="utf-8"))


def test_reliability_doc_ids_are_unique() -> None:
    ids = _ids(ROOT / "docs" / "RELIABILITY.md")
    assert ids, "docs/RELIABILITY.md lists no scenario ids"
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_reliability_doc_matches_the_shared_copy() -> None:
    if not SHARED.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {SHARED} is missing: the shared scenarios cannot be compared")
        pytest.skip(f"{SHARED} not present outside CI")
    ours, shared = set(_ids(ROOT / "docs" / "RELIABILITY.md")), set(_ids(SHARED))
    assert ours == shared, (
        f"docs/RELIABILITY.md is out of step with ../shared/RELIABILITY.md: "
        f"missing {sorted(shared - ours)}, extra {sorted(ours - shared)}"
    )


def test_tests_cite_only_known_reliability_ids() -> None:
    known = {i.lower() for i in _ids(ROOT / "docs" / "RELIABILITY.md")}
    cited = {
        m
        for path in (ROOT / "tests").rglob("test_*.py")
        for m in CITED.findall(path.read_text(encoding="utf-8"))
    }
    unknown = sorted(cited - known)
    assert not unknown, f"tests are named after ids docs/RELIABILITY.md does not define: {unknown}"
