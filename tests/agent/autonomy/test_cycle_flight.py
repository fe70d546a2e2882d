"""The staged cycle's arithmetic: the RMM request budget and the background failure rate."""

from __future__ import annotations

import pytest

from adapters.sim import ManualClock
from agent.patching import RequestBudget
from agent.patching.flight import over_background


def test_budget_is_a_sliding_minute_on_the_injected_clock() -> None:
    clock = ManualClock()
    b = RequestBudget(3, clock)
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    clock.advance(59)
    assert not b.take()  # still inside the same 60 seconds
    assert b.take(force=True)  # a health read always goes, and is counted
    assert b.peak == 4 and b.total == 4
    clock.advance(1)  # the three from the first second leave the window
    assert b.take() and b.take() and not b.take()  # with the forced read: 3 in the window
    assert b.total == 6


def test_budget_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rmm_per_minute must be at least 1, got 0"):
        RequestBudget(0, ManualClock())


@pytest.mark.parametrize(
    ("failures", "done", "halts"),
    [
        (1, 10, False),  # one unlucky host in a canary of ten
        (3, 10, True),  # a third of the canary
        (25, 800, False),  # 3% of a big stage: the background
        (60, 800, True),  # 7.5%: clearly above it
        (0, 0, False),
    ],
)
def test_failures_halt_only_clearly_above_background(failures: int, done: int, halts: bool) -> None:
    assert over_background(failures, done, 0.03) is halts
