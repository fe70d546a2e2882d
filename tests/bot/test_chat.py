"""``opshand chat`` walks the demo's "try this" list through the real Bolt app and LocalSlack.

The session is driven line by line, as a person would type; assertions read the rendered
terminal text only (stable things: CR- refs, "consent", "reconciled", button labels).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

import bot.app  # noqa: F401  - registers the bot's tables before bootstrap creates the schema
from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.chat import ChatSession
from bot.cli.run import DemoStack, start_stack
from bot.digest import digest_day
from bot.settings import Settings

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


@pytest.fixture
def chat(stack: DemoStack) -> ChatSession:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    return ChatSession(stack.slack, console, quiet=0.3, timeout=30)


def _button(text: str, label: str) -> int:
    """The number of the last ``[n] label`` choice printed."""
    # "Approve" is not "Approve for the next window" (a card outside the window has both)
    found = re.findall(rf"\[(\d+)\] {label}(?! for the next window)", text)
    assert found, f"no {label} button in:\n{text}"
    return int(found[-1])


def test_chat_walks_the_try_this_list(chat: ChatSession, stack: DemoStack) -> None:
    # 1. a blast-radius question
    assert chat.handle("what depends on contoso-ny-db-prod-01?")
    text = chat.wait_for("contoso-erp-db")
    assert "opshand #ops → thread" in text

    # 2. a routine change runs by itself
    chat.handle("restart contoso-erp-app")
    chat.wait_for("reconciled")

    # 3. a risky change waits for consent; its card has numbered Approve / Reject buttons
    chat.handle("@opshand reboot contoso-ny-bkp-prod-01 now")
    text = chat.wait_for("Approve")
    refs = re.findall(r"CR-\d+", text)
    assert refs
    ref = refs[-1]
    approve = _button(text, "Approve")
    assert _button(text, "Reject") > 0
    sim = stack.oh.sim
    assert sim is not None
    assert sim.effects("rmm", "reboot") == 0

    # Ana asked, so her click is refused, in a note only she sees (B1)
    chat.handle(str(approve))
    chat.wait_for("(only you)")
    assert sim.effects("rmm", "reboot") == 0

    # 4. Ben, an approver, approves
    chat.handle("/as ben")
    assert "You are now Ben Okafor" in chat.text()
    chat.handle(str(approve))
    chat.wait_for("reconciled")
    assert sim.effects("rmm", "reboot") == 1

    # 5. the thread summary names the change, says reconciled, and points at the audit
    summary = chat.text()[chat.text().find(f"{ref} reconciled") :]
    assert "audit" in summary.lower()

    # 6. Devika opens today's digest (a slash command, answered only to her)
    chat.handle("/as devika")
    chat.handle("/opshand digest")  # no date: today so far
    text = chat.wait_for("digest")
    assert "(only you)" in text
    shown = digest_day(stack.oh, "today")
    assert shown is not None and f"opshand daily digest — {shown:%a %d %b %Y}" in text
    assert stack.oh.audit.verify().ok


def test_chat_help_quit_and_mistakes(chat: ChatSession) -> None:
    assert chat.handle("/help")
    assert "/as NAME" in chat.text()
    assert chat.handle("/as nobody")
    assert "nobody" in chat.transcript[-1]
    assert chat.handle("7")
    assert "no button 7" in chat.transcript[-1]
    assert chat.handle("/reply hello")
    assert "no thread" in chat.transcript[-1]
    assert chat.handle("/in #ops-approvals")
    assert chat.prompt == "ana in #ops-approvals > "
    assert chat.handle("/quit") is False


def test_chat_run_reads_lines_until_quit(chat: ChatSession) -> None:
    chat.run(["/as chloe", "/help", "/quit", "never read"], follow=False)
    text = chat.text()
    assert "You are now Chloe" in text
    assert "chloe in #ops > /help" in text
    assert "never read" not in text


def test_chat_renders_the_reject_dialog_and_submits_a_reason(chat: ChatSession) -> None:
    chat.handle("reboot contoso-ny-bkp-prod-01 now")
    text = chat.wait_for("Reject")
    reject = _button(text, "Reject")
    chat.settle(expect=False)  # every card of the request is printed before counting
    cards_printed = chat.text().count("Blast radius:")
    chat.handle("/as chloe")
    chat.handle(str(reject))
    chat.wait_for("Reject change")  # the modal's title
    assert chat.prompt.endswith("> ")
    assert chat._form is not None
    chat.handle("/as ben")  # a command is never taken as the reason
    assert "Answer the field" in chat.transcript[-1]
    chat.handle("not during business hours")
    text = chat.wait_for("rejected")
    assert "not during business hours" in text
    # the edited cards print only what changed, not the whole card again
    assert "(updated)" in text
    assert text.count("Blast radius:") == cards_printed


def test_chat_quit_inside_a_dialog_closes_it_and_quits(chat: ChatSession) -> None:
    chat.handle("reboot contoso-ny-bkp-prod-01 now")
    reject = _button(chat.wait_for("Reject"), "Reject")
    chat.handle("/as ben")
    chat.handle(str(reject))
    chat.wait_for("Reject change")
    assert chat.handle("/quit") is False
    assert chat.slack.view_for(chat.user_id) is None


def test_demo_steps_end_with_todays_digest() -> None:
    from datetime import date

    from bot.cli.demo_steps import DEMO_STEPS, demo_steps

    steps = demo_steps(date(2026, 3, 4))
    assert steps[-1].say == "/opshand digest 2026-03-04"
    assert [s.title for s in steps[:-1]] == [s.title for s in DEMO_STEPS[:-1]]
    assert steps[3].user == "ben" and steps[3].say is None
    tonight = [s.title for s in steps].index("Approve it for tonight")
    assert steps[tonight].user == "ben" and steps[tonight].say is None
