"""Prints the parser suite's pass count per form category at the end of a run."""

from __future__ import annotations

from collections import Counter

import pytest

_PASSED: Counter[str] = Counter()
_TOTAL: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" or "test_parse_case[" not in report.nodeid:
        return
    category = report.nodeid.split("test_parse_case[", 1)[1].split("-", 1)[0]
    _TOTAL[category] += 1
    _PASSED[category] += int(report.passed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TOTAL:
        return
    terminalreporter.section("offline parser cases per category")
    for category in sorted(_TOTAL):
        terminalreporter.write_line(f"{category:<14} {_PASSED[category]:>3} / {_TOTAL[category]}")
    passed, total = sum(_PASSED.values()), sum(_TOTAL.values())
    terminalreporter.write_line(f"{'all':<14} {passed:>3} / {total}")
