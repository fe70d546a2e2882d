"""The daily digest: its numbers from the audit log, its rendering, posting once, scheduling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from adapters.sim import SimTimings
from agent.digest import compute_digest
from agent.service import ChangeRequest, identity_of
from bot.bootstrap import Opshand, bootstrap
from bot.cli.digest import blocks_as_text
from bot.digest import (
    DIGEST_LEASE,
    DigestConfig,
    DigestScheduler,
    digest_blocks,
    post_digest,
    text_chart,
)
from bot.jobs import acquire_job, job_result
from bot.localslack import LocalSlack
from bot.settings import Settings
from twin.model import utcnow

TEAM = "T0LOCAL01"
ANA, CHLOE = identity_of(TEAM, "U0LOCAL01"), identity_of(TEAM, "U0LOCAL03")


@pytest.fixture
def oh(tmp_path: Path) -> Iterator[Opshand]:
    s = Settings(data_dir=tmp_path / "d", sample_endpoints=200)
    o = bootstrap(s, sim_timings=SimTimings(scale=0))
    yield o
    o.close()


def _ask(oh: Opshand, action: str, target: str, params: dict | None = None) -> object:  # type: ignore[type-arg]
    return oh.ops.propose(
        ChangeRequest(
            action=action, targets=[target], params=params or {}, reason="t", requester=ANA
        )
    )


def _a_day_of_work(oh: Opshand) -> str:
    auto = _ask(oh, "ticket.comment", "ticket:TCK-1001", {"text": "investigating"})
    assert auto.status == "auto"  # type: ignore[attr-defined]
    denied = oh.agent.ask("disable user contoso-breakglass", requester=ANA)
    assert [c.state for c in denied.proposals] == ["denied"]
    res = _ask(oh, "host.reboot", "host:contoso-ny-bkp-prod-01")
    change = res.change  # type: ignore[attr-defined]
    out = oh.ops.vote(change.id, CHLOE, True, plan_hash=change.plan_hash, payload_id="p1")
    assert out.accepted
    oh.ops.drain()
    return str(change.ref)


def _today() -> date:
    return utcnow().date()


def test_digest_counts_outcomes_kinds_consent_time_rules_and_time_saved(oh: Opshand) -> None:
    ref = _a_day_of_work(oh)
    n = compute_digest(
        oh.engine,
        oh.audit,
        _today(),
        ZoneInfo("UTC"),
        minutes_per_action={"host.reboot": 30},
        default_minutes=10,
    )
    assert n.outcomes.get("auto") == 1
    assert n.outcomes.get("consented") == 1
    assert n.outcomes.get("denied", 0) >= 1
    assert n.by_kind["host.reboot"]["consented"] == 1
    assert n.consent_median is not None and n.consent_slowest is not None
    assert n.consent_slowest[0] == ref
    assert n.rules and all(count >= 1 for _, count in n.rules)
    assert n.succeeded == {"host.reboot": 1, "ticket.comment": 1}
    assert n.minutes_saved == 30 + 10
    assert len(n.history) == 14 and n.history[-1] == (_today(), 2, 0)
    # the chart's days: the same outcomes as the day's counts, and the 13 days before it empty
    assert [d for d, _ in n.outcome_history] == [d for d, _, _ in n.history]
    assert n.outcome_history[-1][1] == n.outcomes
    assert all(counts == {} for _, counts in n.outcome_history[:-1])
    assert n.waiting == {}


def test_digest_of_a_quiet_day_is_empty_and_waiting_counts_open_requests(oh: Opshand) -> None:
    _ask(oh, "host.reboot", "host:contoso-ny-bkp-prod-01")  # left waiting
    n = compute_digest(
        oh.engine, oh.audit, _today(), ZoneInfo("UTC"), minutes_per_action={}, default_minutes=15
    )
    assert n.outcomes == {} and n.minutes_saved == 0
    assert sum(n.waiting.values()) == 1
    earlier = compute_digest(
        oh.engine,
        oh.audit,
        _today() - timedelta(days=3),
        ZoneInfo("UTC"),
        minutes_per_action={},
        default_minutes=15,
    )
    assert earlier.outcomes == {} and earlier.waiting == {}


def test_digest_days_follow_the_time_zone(oh: Opshand) -> None:
    _a_day_of_work(oh)
    tz = ZoneInfo("Pacific/Kiritimati")  # UTC+14: local "today" starts 14 h earlier
    local_today = utcnow().astimezone(tz).date()
    n = compute_digest(
        oh.engine, oh.audit, local_today, tz, minutes_per_action={}, default_minutes=1
    )
    assert n.outcomes.get("auto") == 1 and n.timezone == "Pacific/Kiritimati"


def test_digest_rendering_states_its_assumption_and_stays_in_limits(oh: Opshand) -> None:
    _a_day_of_work(oh)
    cfg = DigestConfig(minutes_per_action={"host.reboot": 30}, default_minutes=10)
    n = compute_digest(
        oh.engine,
        oh.audit,
        _today(),
        ZoneInfo("UTC"),
        minutes_per_action=cfg.minutes_per_action,
        default_minutes=10,
    )
    text, blocks = digest_blocks(n, cfg)
    body = blocks_as_text(blocks)
    assert "auto 1" in body and "consented 1" in body
    assert "Assumes 10 min" in body and "host.reboot 30 min" in body
    assert "Consent time: median" in body
    assert "Last 14 days" in body
    assert len(blocks) <= 50 and text


def test_text_chart_scales_bars_and_marks_failures() -> None:
    days = [(date(2026, 1, 1) + timedelta(days=i), i, 1 if i == 3 else 0) for i in range(14)]
    ran, failed, dates = text_chart(days).splitlines()
    bars = ran.removeprefix("ran    ")[:14]
    assert bars[0] == " " and bars[-1] == "█"  # zero is blank, the busiest day is full
    assert list(bars) == sorted(bars, key=" ▁▂▃▄▅▆▇█".index)  # rising counts, rising bars
    assert "(max 13/day)" in ran
    assert failed.removeprefix("failed ") == "···x··········"
    assert "01 Jan" in dates and "14 Jan" in dates


def test_digest_is_posted_once_across_replicas(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        day = _today() - timedelta(days=1)
        results: list[str | None] = []
        threads = [
            threading.Thread(target=lambda: results.append(post_digest(oh, client, day)))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len([r for r in results if r]) == 1
        assert post_digest(oh, client, day) is None  # a later run does not post again
        posted = slack.messages("ops-digest")
        assert len(posted) == 1 and "daily digest" in blocks_as_text(posted[0]["blocks"])


def test_failed_post_releases_the_lease_so_it_is_retried(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        bad = WebClient(token="xoxb-wrong", base_url=slack.api_url)
        day = _today() - timedelta(days=1)
        with pytest.raises(Exception, match="invalid_auth"):
            post_digest(oh, bad, day)
        good = WebClient(token="xoxb-d", base_url=slack.api_url)
        assert post_digest(oh, good, day) is not None


def test_scheduler_is_due_only_after_the_local_time(oh: Opshand) -> None:
    at = datetime(2026, 3, 10, 7, 59, tzinfo=UTC)
    sched = DigestScheduler(oh, WebClient(token="x"), now=lambda: at)
    assert sched.due() is None  # default 08:00 UTC
    sched.now = lambda: at + timedelta(minutes=2)
    assert sched.due() == date(2026, 3, 9)
    assert DigestConfig().at == time(8, 0)


def test_scheduler_tick_posts_yesterday_once(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        noon = datetime.combine(_today(), time(12, 0), tzinfo=UTC)
        replicas = [DigestScheduler(oh, client, now=lambda: noon) for _ in range(2)]
        posted = [r.run_once() for r in replicas] + [replicas[0].run_once()]
        assert len([p for p in posted if p]) == 1
        body = blocks_as_text(slack.messages("ops-digest")[0]["blocks"])
        yesterday = _today() - timedelta(days=1)
        assert f"{yesterday:%a %d %b %Y}" in body


class _LostResponse(WebClient):
    """Posts for real, then loses the answer (a timeout after Slack accepted the message)."""

    def chat_postMessage(self, **kwargs: Any) -> Any:
        super().chat_postMessage(**kwargs)
        raise TimeoutError("read timed out")


def test_digest_of_a_dead_holder_is_taken_over_after_its_lease(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        day = _today() - timedelta(days=1)
        t0 = utcnow()
        # a replica took the day and died before posting
        assert acquire_job(oh.engine, f"digest:{day}", "dead", DIGEST_LEASE, now=t0)
        assert post_digest(oh, client, day, owner="alive", now=t0 + DIGEST_LEASE / 2) is None
        assert slack.messages("ops-digest") == []
        later = t0 + DIGEST_LEASE + timedelta(seconds=1)
        ts = post_digest(oh, client, day, owner="alive", now=later)
        assert ts is not None and job_result(oh.engine, f"digest:{day}") == ts
        assert len(slack.messages("ops-digest")) == 1
        # posted: never again, however late
        assert post_digest(oh, client, day, owner="x", now=later + timedelta(days=3)) is None
        assert len(slack.messages("ops-digest")) == 1


def test_digest_whose_post_response_was_lost_is_not_posted_twice(oh: Opshand) -> None:
    with LocalSlack(signing_secret="s", bot_token="xoxb-d") as slack:
        day = _today() - timedelta(days=1)
        with pytest.raises(TimeoutError):
            post_digest(oh, _LostResponse(token="xoxb-d", base_url=slack.api_url), day)
        assert job_result(oh.engine, f"digest:{day}") is None  # not recorded as done
        client = WebClient(token="xoxb-d", base_url=slack.api_url)
        ts = post_digest(oh, client, day)
        posted = slack.messages("ops-digest")
        assert len(posted) == 1 and ts == posted[0]["ts"]  # found and recorded, not re-posted
        assert job_result(oh.engine, f"digest:{day}") == ts
