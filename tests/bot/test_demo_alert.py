"""The demo's "fire an alert" step: an authenticated Alertmanager webhook on the demo's own port.

The signal takes the real path (``/signals/alertmanager`` with the demo's credentials, the
signal loop, the runbook, policy, the worker) and the incident thread in ``#incidents`` tells
it from the decision to the reconciled summary.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from rich.console import Console

import bot.app  # noqa: F401  - registers the bot's tables before bootstrap creates the schema
from adapters.signals import parse_alertmanager
from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.chat import ChatSession
from bot.cli.demo_alert import (
    ALERT_SERVICE,
    FIRE_ALERT,
    alert_headers,
    alertmanager_body,
    curl_example,
)
from bot.cli.demo_steps import DEMO_STEPS
from bot.cli.run import DemoStack, start_stack
from bot.localslack import TOKEN_HEADER, LocalSlack, TryStep
from bot.settings import DEMO_ALERTMANAGER_TOKEN, Settings, SignalSourceSettings

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DemoStack]:
    settings = Settings(data_dir=tmp_path / "data", sample_endpoints=200)
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0), start_worker=True)
    running = start_stack(oh)
    try:
        yield running
    finally:
        running.close()


def _incident_thread(slack: LocalSlack, needle: str) -> str:
    """Wait until the newest thread in #incidents mentions ``needle``; return its text."""

    def text() -> str | None:
        roots = slack.messages("incidents")
        if not roots:
            return None
        thread = slack.messages("incidents", thread_ts=roots[-1]["ts"])
        body = "\n".join(str(m.get("text", "")) + str(m.get("blocks", "")) for m in thread)
        return body if needle in body else None

    return slack.wait_for(text, timeout=30)


def test_the_alert_is_a_real_alertmanager_notification_for_a_runbook() -> None:
    [signal] = parse_alertmanager(alertmanager_body())
    assert signal.status == "firing"
    assert signal.labels["alertname"] == "ServiceDown"
    assert signal.labels["service"] == ALERT_SERVICE
    # each press is a new alert instance
    assert alertmanager_body() != alertmanager_body()


def test_alert_headers_follow_the_configured_source() -> None:
    bearer = SignalSourceSettings(bearer_token=SecretStr("t0k"))
    assert alert_headers(bearer) == {"Authorization": "Bearer t0k"}
    basic = SignalSourceSettings(username="am", password=SecretStr("pw"))
    sent = alert_headers(basic)["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(sent) == b"am:pw"
    assert alert_headers(SignalSourceSettings(open=True)) == {}
    assert alert_headers(None) == {}


def test_curl_example_shows_only_the_public_demo_token() -> None:
    demo = SignalSourceSettings(bearer_token=SecretStr(DEMO_ALERTMANAGER_TOKEN))
    line = curl_example("http://127.0.0.1:8765/", demo)
    assert "http://127.0.0.1:8765/signals/alertmanager" in line
    assert f"Bearer {DEMO_ALERTMANAGER_TOKEN}" in line
    real = SignalSourceSettings(bearer_token=SecretStr("s3cret-real"))
    assert "s3cret-real" not in curl_example("http://x/", real)


def test_the_alert_step_comes_after_the_thread_summary_and_before_the_digest() -> None:
    titles = [s.title for s in DEMO_STEPS]
    at = titles.index("Fire an alert")
    assert titles[at - 1] == "Read the thread summary"
    assert at < titles.index("Open the digest") == len(titles) - 1
    assert DEMO_STEPS[at].run == FIRE_ALERT and DEMO_STEPS[at].channel == "incidents"


def test_a_step_running_an_unknown_action_is_refused_early() -> None:
    with pytest.raises(ValueError, match="unknown step action 'nope'"):
        LocalSlack(signing_secret="s", try_this=[TryStep(title="x", run="nope")])


def test_signals_on_the_demo_port_need_the_demo_credentials(stack: DemoStack) -> None:
    url = stack.slack.base_url + "signals/alertmanager"
    body = alertmanager_body()
    assert httpx.post(url, content=body).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(url, content=body, headers=wrong).status_code == 401
    assert stack.slack.messages("incidents") == []
    right = {"Authorization": f"Bearer {DEMO_ALERTMANAGER_TOKEN}"}
    resp = httpx.post(url, content=body, headers=right, timeout=30)
    assert resp.status_code == 202
    assert resp.json()["accepted"] == 1 and resp.json()["incidents"]


def test_fire_alert_step_shows_the_incident_thread_end_to_end(stack: DemoStack) -> None:
    slack, oh = stack.slack, stack.oh
    said = slack.run_step(FIRE_ALERT)
    assert "HTTP 202" in said and "incident" in said and "#incidents" in said
    thread = _incident_thread(slack, "reconciled.")
    assert "service.restart" in thread and "CR-" in thread
    # the story starts in the same thread: the alert, the incident, the runbook, the end
    assert "critical alert from alertmanager: INC-" in thread
    assert "runbook restart-down-service -&gt; CR-" in thread or "restart-down-service" in thread
    assert thread.index("alert from alertmanager") < thread.rindex("reconciled.")
    # the incident record was opened by the signal and closed by the change's outcome
    sim = oh.sim
    assert sim is not None and sim.effects("rmm", "run_script") >= 1
    [change] = [c for c in oh.ops.journal.list() if c.source == "signal"]
    assert change.requester == "signal:alertmanager"
    assert change.targets == [f"service:{ALERT_SERVICE}"]
    assert oh.audit.verify().ok


def test_the_page_runs_the_step_action_only_with_its_token(stack: DemoStack) -> None:
    slack = stack.slack
    url = slack.base_url + "ui/step"
    refused = httpx.post(url, json={"name": FIRE_ALERT})
    assert refused.status_code == 403
    headers = {TOKEN_HEADER: slack.ui_token}
    unknown = httpx.post(url, json={"name": "rm-rf"}, headers=headers)
    assert unknown.status_code == 400
    assert slack.messages("incidents") == []
    ran = httpx.post(url, json={"name": FIRE_ALERT}, headers=headers, timeout=30)
    assert ran.status_code == 200 and "HTTP 202" in ran.json()["text"]
    _incident_thread(slack, "reconciled")


def test_chat_runs_the_alert_step(stack: DemoStack) -> None:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    chat = ChatSession(stack.slack, console, quiet=0.3, timeout=30)
    chat.handle("/run fire-alert")
    text = chat.wait_for("reconciled")
    assert "HTTP 202" in text and "#incidents" in text
    chat.handle("/run")
    assert "/run needs an action" in chat.transcript[-1]
