"""Prometheus metrics through the real HTTP app: a consent flow end to end, then a scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk import WebClient

from adapters.sim import SimTimings
from bot.app import build_app
from bot.bootstrap import bootstrap
from bot.ingress import HttpServer, create_http_app
from bot.localslack import LocalSlack
from bot.metrics import Metrics, install_metrics, metrics_routes
from bot.settings import Settings
from tests.bot.world import (
    ANA,
    BEN,
    BOT_TOKEN,
    EVENTS,
    SIGNING_SECRET,
    World,
    card_of,
    message,
    ref_in,
    texts,
    wait_text,
)
from twin.model import utcnow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, Metrics]]:
    settings = Settings(
        management={"metrics_cache_seconds": 0},  # each scrape reads afresh
        data_dir=tmp_path / "data",
        sample_endpoints=200,
        slack={"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN},
    )
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0), start_worker=True)
    slack = LocalSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, events=EVENTS)
    slack.start()
    bolt = build_app(oh, client=WebClient(token=BOT_TOKEN, base_url=slack.api_url))
    m = install_metrics(bolt, oh)
    asgi = create_http_app(
        bolt, engine=oh.engine, signing_secret=SIGNING_SECRET, routes=metrics_routes(oh)
    )
    http = HttpServer(m.asgi(asgi))  # type: ignore[arg-type]
    http.start()
    slack.bot_url = http.url
    try:
        yield World(oh, slack, http), m
    finally:
        logging.getLogger().removeHandler(m.error_handler)
        http.stop()
        slack.stop()
        oh.close()


def scrape(w: World) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = httpx.get(w.http.base_url + "/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    want = set(labels.items())
    hits = [v for (n, ls), v in found.items() if n == name and want <= ls]
    assert hits, f"no sample {name}{labels}; have {sorted({n for n, _ in found})}"
    return sum(hits)


def test_metrics_count_a_consent_flow_acks_and_twin(world: tuple[World, Metrics]) -> None:
    w, _ = world
    ts = w.slack.send_message(ANA, "ops", f"<@{w.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(w, "ops", "waiting for consent", thread_ts=ts))
    card = card_of(w, ref)
    waiting = scrape(w)
    assert value(waiting, "opshand_queue_depth", state="awaiting_consent") == 1
    assert value(waiting, "opshand_queue_oldest_seconds", state="awaiting_consent") >= 0
    w.slack.click(BEN, "ops-approvals", card["ts"], "consent_approve")
    w.slack.wait_for(
        lambda: "reconciled" in texts([message(w, "ops-approvals", card["ts"])]), timeout=20
    )
    found = scrape(w)
    assert value(found, "opshand_changes_decided_total", outcome="consent") == 1
    assert value(found, "opshand_decision_seconds_count") == 1
    assert value(found, "opshand_consent_wait_seconds_count", outcome="approved") == 1
    assert value(found, "opshand_changes_finished_total", state="reconciled") == 1
    assert value(found, "opshand_queue_depth", state="awaiting_consent") == 0
    # one mention event (acked by Bolt) and one button click
    assert value(found, "opshand_slack_ack_seconds_count", type="event") >= 1
    assert value(found, "opshand_slack_ack_seconds_count", type="block_actions") == 1
    # what Slack saw: the HTTP server answered both, and only Slack's path is timed
    assert value(found, "opshand_http_ack_seconds_count", status="200") >= 2
    assert value(found, "opshand_integration_calls_total") >= 1
    assert not [
        ls
        for n, ls in found
        if n == "opshand_integration_calls_total" and ("outcome", "calling") in ls
    ], "every call in the ledger has finished"
    assert value(found, "opshand_twin_entities") == len(w.oh.ops.graph)
    assert value(found, "opshand_twin_serial_lag") == 0


def test_serial_lag_counts_changes_not_yet_applied(world: tuple[World, Metrics]) -> None:
    w, _ = world
    w.oh.ops.stop_worker()  # nothing else may catch the twin up between the write and scrape
    host = next(e for e in w.oh.ops.graph.entities() if e.kind.value == "host")
    for i in range(3):
        w.oh.store.set_attrs(host.id, {"note": f"n{i}"}, actor="test", reason="lag")
    assert value(scrape(w), "opshand_twin_serial_lag") == 3
    w.oh.ops.graph  # noqa: B018  (reading the twin catches it up)
    assert value(scrape(w), "opshand_twin_serial_lag") == 0


def test_circuit_states_and_logged_errors_are_exported(world: tuple[World, Metrics]) -> None:
    w, _ = world
    breaker = w.oh.ops.executor.breaker("rmm")
    for _ in range(20):
        breaker.record_failure()
    w.oh.ops.executor.breaker("psa")
    logging.getLogger("agent.something").error("boom")
    found = scrape(w)
    assert value(found, "opshand_circuit_state", category="rmm") == 2
    assert value(found, "opshand_circuit_state", category="psa") == 0
    assert value(found, "opshand_errors_total", logger="agent") == 1


def test_decided_metrics_by_outcome_from_change_events(world: tuple[World, Metrics]) -> None:
    w, m = world
    from agent.service import ChangeRequest

    host = next(e for e in w.oh.ops.graph.entities() if e.kind.value == "host")
    res = w.oh.ops.propose(
        ChangeRequest(
            action="host.reboot",
            targets=[host.id],
            params={},
            reason="metrics",
            requester=f"{w.oh.settings.slack.team_id}:{ANA}",
        )
    )
    assert res.change is not None
    assert m.changes_decided.labels(action="host.reboot", outcome=res.status)._value.get() == 1
    assert res.change.created_at <= utcnow()


def test_scrapes_share_one_cached_page(world: tuple[World, Metrics]) -> None:
    w, m = world
    m.cache_seconds = 3600
    first = m.render()
    read = m.state.calls.rows_read
    w.oh.ops.executor.breaker("rmm")  # something a fresh page would show
    for _ in range(20):
        assert m.render() is first  # no database read, no new page
    assert m.state.calls.rows_read == read
    m.cache_seconds = 0
    assert m.render() is not first
