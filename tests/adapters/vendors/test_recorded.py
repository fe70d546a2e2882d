"""Recorded exchanges from real estates, replayed against the vendor clients."""

from __future__ import annotations

import json

import pytest

from adapters import errors
from tests.adapters.vendors.recorded import (
    REPLAY_CLIENTS,
    SCRUBBED,
    Case,
    load_cases,
    replay,
    scrub,
)

CASES = load_cases()


def _subset(want: object, got: object, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected an object, got {got!r}"
        for key, value in want.items():
            assert key in got, f"{where}.{key} missing from the result"
            _subset(value, got[key], f"{where}.{key}")
    elif isinstance(want, list) and isinstance(got, list | tuple):
        assert len(want) == len(got), f"{where}: {len(got)} items, expected {len(want)}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            _subset(w, g, f"{where}[{i}]")
    else:
        assert want == got, f"{where}: {got!r}, expected {want!r}"


def test_there_are_cases_for_every_replayable_vendor():
    missing = set(REPLAY_CLIENTS) - {c.vendor for c in CASES}
    assert not missing, f"add a recorded case under recorded/<vendor>/ for {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recorded_case_replays(case: Case):
    result, replayer = replay(case)
    assert not replayer.pending, f"{case.name}: the client never sent {replayer.pending[0]}"
    if "error" in case.expect:
        expected = getattr(errors, case.expect["error"])
        assert isinstance(result, expected), f"{case.name}: got {result!r}"
    else:
        assert not isinstance(result, Exception), f"{case.name}: raised {result!r}"
        dumped = result.model_dump(mode="json") if hasattr(result, "model_dump") else result
        if isinstance(dumped, list):
            dumped = [d.model_dump(mode="json") if hasattr(d, "model_dump") else d for d in dumped]
        _subset(case.expect["result"], dumped, case.name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recorded_case_holds_no_secret(case: Case):
    raw = json.loads(case.path.read_text(encoding="utf-8"))
    assert scrub(raw) == raw, f"{case.path}: scrub it (recorded.scrub) before committing"
    assert case.vendor in REPLAY_CLIENTS


def test_scrub_replaces_secret_fields_and_credentials_only():
    dirty = {
        "client_secret": "s3cr3t",
        "headers": {"Authorization": "Bearer abc", "X-Trace": "t-1"},
        "note": "SSWS 00abcdef",
        "profile": {"login": "ada@acme.example", "password": {"value": "pw"}},
        "items": [{"access_token": "tok"}],
    }
    clean = scrub(dirty)
    assert clean["client_secret"] == SCRUBBED
    assert clean["headers"] == {"Authorization": SCRUBBED, "X-Trace": "t-1"}
    assert clean["note"] == SCRUBBED
    assert clean["profile"]["login"] == "ada@acme.example"
    assert clean["profile"]["password"] == {"value": SCRUBBED}
    assert clean["items"] == [{"access_token": SCRUBBED}]
    assert scrub(clean) == clean
