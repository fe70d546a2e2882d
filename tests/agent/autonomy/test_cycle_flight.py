"""The staged cycle's arithmetic: the RMM request budget, the background failure rate, and
whether a host still fits its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.sim import ManualClock
from agent.patching import ClientPlan, RequestBudget, StagePlan
from agent.patching.fit import deferral, fits, p95_seconds
from agent.patching.flight import over_background

SAT_22 = datetime(2026, 3, 7, 22, 0, tzinfo=UTC)
WINDOW = {"days": ["sat"], "start": "22:00", "end": "02:00", "tz": "UTC"}


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


def test_p95_is_the_assumption_until_twenty_jobs_then_measured() -> None:
    assert p95_seconds([60.0] * 19, assumed=600.0) == 600.0
    measured = [float(s) for s in range(1, 101)]  # 1 s .. 100 s
    assert p95_seconds(measured, assumed=600.0) == 95.0


def _plan(closes_at: datetime | None) -> ClientPlan:
    stage = StagePlan(number=1, name="canary", hosts=(), soak_seconds=20 * 60)
    return ClientPlan(client="contoso", stages=(stage,), budgets={}, window=WINDOW,
                      opens_at=SAT_22, closes_at=closes_at)  # fmt: skip


def test_a_host_fits_only_if_job_soak_and_rollback_end_before_the_close() -> None:
    plan = _plan(SAT_22 + timedelta(hours=4))
    need = 10 * 60 + 20 * 60 + 10 * 60  # p95 + canary soak + rollback: 40 min
    last_start = plan.closes_at - timedelta(seconds=need)  # type: ignore[operator]
    assert fits(plan, 0, last_start, 600.0)
    assert not fits(plan, 0, last_start + timedelta(seconds=1), 600.0)
    assert fits(_plan(None), 0, SAT_22 + timedelta(days=30), 600.0)  # no window, no close


def test_a_deferral_names_the_close_the_p95_and_the_next_opening() -> None:
    why = deferral(_plan(SAT_22 + timedelta(hours=4)), 900.0)
    assert "closes at Sun 02:00 UTC" in why and "(15 min)" in why
    assert "deferred to 2026-03-14T22:00:00+00:00" in why
