"""Restarting the demo keeps channel history, so a change waiting for consent can be voted on.

Start the demo's stack, ask for a change that needs consent, stop everything, start again on
the same data folder, and approve the card that was posted before the restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.app  # noqa: F401  - registers the bot's tables before bootstrap creates the schema
from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.cli.run import HISTORY_FILE, DemoStack, start_stack
from bot.settings import Settings

pytestmark = pytest.mark.timeout(240)

ANA, BEN = "U0LOCAL01", "U0LOCAL02"


def _start(data: Path) -> DemoStack:
    settings = Settings(data_dir=data, sample_endpoints=200)
    oh = bootstrap(settings, sim_timings=SimTimings(scale=0), start_worker=True)
    return start_stack(oh, history=data / HISTORY_FILE)


def _card(stack: DemoStack, ref: str) -> dict[str, object] | None:
    return stack.slack.find_message(
        "ops-approvals", predicate=lambda m: ref in str(m) and "approve" in str(m).lower()
    )


def test_a_waiting_change_is_voted_on_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _start(data)
    try:
        slack = first.slack
        asked = slack.send_message(
            ANA, "ops", f"<@{slack.bot_user_id}> reboot contoso-ny-bkp-prod-01 now"
        )
        card = slack.wait_for(lambda: _card(first, "CR-"), timeout=30)
        [change] = first.oh.ops.journal.list()
        assert change.state == "awaiting_consent"
        ref = change.ref
        assert ref in str(card)
        slack.wait_for(lambda: len(slack.messages("ops", thread_ts=asked)) > 1, timeout=30)
        asked_thread = slack.messages("ops", thread_ts=asked)
    finally:
        first.close()
    assert (data / HISTORY_FILE).exists()

    second = _start(data)
    try:
        slack = second.slack
        # the history is back: Ana's request, its thread and the card, same ts
        kept = slack.messages("ops", thread_ts=asked)[: len(asked_thread)]
        assert [(m["ts"], m["text"]) for m in kept] == [(m["ts"], m["text"]) for m in asked_thread]
        restored = _card(second, ref)
        assert restored is not None and restored["ts"] == card["ts"]
        # Ben approves on the card posted before the restart
        approve = next(
            e
            for b in [
                *restored["blocks"],  # type: ignore[misc]
                *(x for a in restored.get("attachments") or [] for x in a.get("blocks", [])),  # type: ignore[attr-defined]
            ]
            for e in b.get("elements", [])
            if e.get("type") == "button" and "approve" in str(e.get("action_id", ""))
        )
        status = slack.click(
            BEN, "ops-approvals", str(restored["ts"]), approve["action_id"], approve.get("value")
        )
        assert status == 200
        done = second.oh.ops.journal.get(change.id)

        def finished() -> bool:
            nonlocal done
            done = second.oh.ops.journal.get(change.id)
            return done.state == "reconciled"

        slack.wait_for(finished, timeout=60)
        sim = second.oh.sim
        assert sim is not None and sim.effects("rmm", "reboot") == 1
        # and the outcome is told in the thread that was asked in before the restart
        slack.wait_for(
            lambda: slack.find_message("ops", thread_ts=asked, text="reconciled"), timeout=30
        )
    finally:
        second.close()
