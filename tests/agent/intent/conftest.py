"""Prints the intent corpus score (training part and held-out part) at the end of a run."""

from __future__ import annotations

import pytest

from tests.agent.intent.corpus import load, score

_RAN: list[bool] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/agent/intent/" in report.nodeid:
        _RAN.append(True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RAN:
        return
    rows = load()
    terminalreporter.section("intent corpus (agent.chat.intent.read_intent)")
    for split in ("train", "heldout"):
        terminalreporter.write_line(score([r for r in rows if r.split == split]).line(split))
