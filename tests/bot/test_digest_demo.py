"""The demo's local workspace gets the daily digest, with its chart, as a real workspace does."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.cli.run import start_stack
from bot.digest import DIGEST_EVENT
from bot.settings import Settings
from twin.model import utcnow

pytestmark = pytest.mark.timeout(120)


def test_demo_posts_yesterdays_digest_at_the_set_local_time(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sample_endpoints=200, digest={"at": time(0, 0)})
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0))
    stack = start_stack(oh, digest_tick=0.2)
    try:
        assert stack.digest is not None
        root = stack.slack.wait_for(
            lambda: next(
                (
                    m
                    for m in stack.slack.messages("ops-digest")
                    if (m.get("metadata") or {}).get("event_type") == DIGEST_EVENT
                ),
                None,
            ),
            timeout=30,
        )
        yesterday = utcnow().date() - timedelta(days=1)
        assert root["metadata"]["event_payload"]["day"] == yesterday.isoformat()
        chart = stack.slack.wait_for(
            lambda: next(
                (
                    f
                    for m in stack.slack.messages("ops-digest", thread_ts=root["ts"])
                    for f in m.get("files", [])
                ),
                None,
            ),
            timeout=30,
        )
        assert chart["mimetype"] == "image/png"
        assert chart["alt_txt"].startswith("Changes per day by outcome")
        # one tick after another: still one digest for the day
        stack.digest.run_once()
        posted = [m for m in stack.slack.messages("ops-digest") if m.get("metadata")]
        assert len(posted) == 1
    finally:
        stack.close()


def test_demo_without_a_scheduler_posts_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sample_endpoints=200)
    stack = start_stack(bootstrap(settings, sim_timings=SimTimings(scale=0)), digest_tick=None)
    try:
        assert stack.digest is None
    finally:
        stack.close()
