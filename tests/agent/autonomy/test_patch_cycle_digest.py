"""A finished patch cycle leaves its summary in the audit, and the daily digest shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from agent.digest import PATCH_CYCLE_KIND, compute_digest
from agent.patching import PatchCycle, plan_cycle
from bot.cli.digest import blocks_as_text
from bot.digest import DigestConfig, digest_blocks
from tests.agent.autonomy.world import ROOT, build_ops

# Sunday 06:00 UTC: inside every sample client's Sat/Sun 22:00-04:00 local window.
IN_WINDOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
POLICY = ROOT / "examples" / "policy_autonomy.yaml"


def test_cycle_summary_is_audited_and_shown_in_the_digest(engine: Engine, tmp_path: Path) -> None:
    ops, sim, audit = build_ops(
        engine, tmp_path, endpoints=120, policy_file=POLICY, now=IN_WINDOW, breaker_failures=25
    )
    plan = plan_cycle(ops.graph, now=ops.now(), client="contoso")
    assert plan.waves
    report = PatchCycle(ops, rmm=sim.rmm, psa=sim.psa).run(plan)
    [row] = [r for r in audit.iter_rows() if r.kind == PATCH_CYCLE_KIND]
    assert row.body["summary"] == report.summary()
    assert row.body["counts"] == report.counts() and row.body["cycle_id"] == report.cycle_id
    assert audit.verify().ok

    day = row.at.astimezone(UTC).date()  # the audit stamps rows with the wall clock
    numbers = compute_digest(
        engine, audit, day, ZoneInfo("UTC"), minutes_per_action={}, default_minutes=15
    )
    assert numbers.patch_cycle is not None
    assert numbers.patch_cycle.summary == report.summary()
    _, blocks = digest_blocks(numbers, DigestConfig())
    assert "Last patch cycle" in blocks_as_text(blocks)
    assert report.cycle_id in blocks_as_text(blocks)

    # a day before the cycle ran knows nothing of it
    before = compute_digest(
        engine,
        audit,
        day - timedelta(days=1),
        ZoneInfo("UTC"),
        minutes_per_action={},
        default_minutes=15,
    )
    assert before.patch_cycle is None
    _, blocks = digest_blocks(before, DigestConfig())
    assert "Last patch cycle" not in blocks_as_text(blocks)
