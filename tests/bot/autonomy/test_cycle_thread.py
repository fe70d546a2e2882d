"""``opshand patch-cycle`` progress in a Slack thread, on the local Slack workspace."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from agent.patching import CycleEvent, CycleReport, HostResult
from bot.cli.autonomy import CycleThread, _slack_thread
from bot.localslack import LocalSlack

TOKEN = "xoxb-cycle-thread-0001"


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    ws = LocalSlack(signing_secret="cycle-thread-secret", bot_token=TOKEN)
    ws.start()
    try:
        yield ws
    finally:
        ws.stop()


def _report() -> CycleReport:
    r = CycleReport(cycle_id="pc-test", planned=2)
    r.results["host:a"] = HostResult("host:a", "patched", "reconciled", ("KB1",))
    r.results["host:b"] = HostResult("host:b", "failed", "escalated", ("KB1",))
    return r


def test_cycle_progress_goes_to_one_thread(slack: LocalSlack) -> None:
    thread = CycleThread(WebClient(token=TOKEN, base_url=slack.api_url), "ops")
    thread.start("pc-test", waves=2, hosts=2)
    assert thread.ts is not None
    thread.on_event(CycleEvent("start", {"waves": 2, "hosts": 2}))  # not worth a reply
    thread.on_event(CycleEvent("wave", {"number": 1, "ring": "canary", "size": 1}))
    thread.on_event(CycleEvent("wave_done", {"number": 1, "counts": {"patched": 1}}))
    thread.on_event(CycleEvent("quarantined", {"patch": "KB1", "hosts": ["host:b"]}))
    thread.on_event(CycleEvent("halted", {"reason": "wave 2: 1 of 1 hosts failed"}))
    report = _report()
    thread.finish(report.summary())

    top = slack.messages("ops")
    assert len(top) == 1 and "pc-test starting: 2 host(s) in 2 wave(s)" in top[0]["text"]
    texts = [m["text"] for m in slack.messages("ops", thread_ts=thread.ts)]
    assert texts[1:] == [
        "Wave 1 done. So far: 1 patched.",
        ":warning: Quarantined KB1: it broke a service on host:b; rolling it back.",
        ":octagonal_sign: Halted: wave 2: 1 of 1 hosts failed",
        report.summary(),
    ]


class _Flaky:
    """A poster whose Slack is down: every call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def conversations_list(self, **_: Any) -> dict[str, Any]:
        return {"channels": []}

    def chat_postMessage(self, **_: Any) -> Any:
        self.calls += 1
        resp = SlackResponse(
            client=None,
            http_verb="POST",
            api_url="chat.postMessage",
            req_args={},
            data={"ok": False, "error": "channel_not_found"},
            headers={},
            status_code=200,
        )
        raise SlackApiError("channel_not_found", resp)


def test_slack_failure_does_not_stop_the_cycle() -> None:
    poster = _Flaky()
    thread = CycleThread(poster, "C0NOPE")
    thread.start("pc-test", waves=1, hosts=1)
    thread.on_event(CycleEvent("wave_done", {"number": 1, "counts": {"patched": 1}}))
    thread.finish("done")
    assert thread.ts is None and poster.calls == 1  # gave up after the first failure


def _oh(mode: str, api_url: str | None) -> Any:
    slack = SimpleNamespace(mode=mode, api_url=api_url, bot_token=SimpleNamespace(
        get_secret_value=lambda: TOKEN))  # fmt: skip
    return SimpleNamespace(settings=SimpleNamespace(slack=slack))


def test_slack_thread_only_when_slack_is_configured() -> None:
    assert _slack_thread(_oh("local", None), "ops") is None
    t = _slack_thread(_oh("local", "http://127.0.0.1:9/api/"), "ops")
    assert t is not None and t.channel == "ops"
    assert _slack_thread(_oh("socket", None), "ops") is not None


def test_staged_cycle_posts_about_once_per_stage(slack: LocalSlack) -> None:
    thread = CycleThread(WebClient(token=TOKEN, base_url=slack.api_url), "ops")
    card = {"cycle_id": "pc-s-contoso", "stages": [{}, {}, {}], "hosts": 40}
    thread.on_event(CycleEvent("start", {"client": "contoso", "card": card}))
    for n in (1, 2, 3):
        thread.on_event(CycleEvent("stage", {"client": "contoso", "number": n, "size": 9}))
        thread.on_event(CycleEvent("stage_done", {"client": "contoso", "number": n,
                                                  "counts": {"patched": 9 * n}}))  # fmt: skip
    thread.on_event(CycleEvent("done", {"client": "contoso", "report": _report()}))
    [head] = slack.messages("ops")
    assert "40 host(s) in 3 stage(s)" in head["text"]
    replies = [m["text"] for m in slack.messages("ops", thread_ts=head["ts"])][1:]
    assert [r.split(" done.")[0] for r in replies[:3]] == [
        "contoso: stage 1", "contoso: stage 2", "contoso: stage 3"
    ]  # fmt: skip
    assert replies[3].startswith("Patch cycle pc-test:") and len(replies) == 4
