"""``opshand chat`` beside a running demo joins that demo's workspace.

The demo's stack runs in this process and serves its page over HTTP; the chat session reaches
it only through that page's endpoints (``RemoteSlack``), as a second ``opshand chat`` process
does. What the terminal person says lands in the demo's own workspace, and the bot's replies
and other people's messages there are printed in the terminal.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import bot.app  # noqa: F401  - registers the bot's tables before bootstrap creates the schema
from adapters.sim import SimTimings
from bot.bootstrap import bootstrap
from bot.chat import ChatSession
from bot.cli.main import app
from bot.cli.run import RUNNING_FILE, DemoStack, running_demo, start_stack
from bot.localslack.remote import RemoteSlack, RemoteUnavailable
from bot.settings import Settings

pytestmark = pytest.mark.timeout(180)

DEVIKA = "U0LOCAL04"


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
def remote(stack: DemoStack) -> Iterator[RemoteSlack]:
    joined = RemoteSlack(stack.slack.web_url)
    try:
        yield joined
    finally:
        joined.close()


def _chat(slack: RemoteSlack) -> ChatSession:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    return ChatSession(slack, console, quiet=0.3, timeout=30)


def test_chat_posts_into_the_running_demo_and_sees_its_replies(
    stack: DemoStack, remote: RemoteSlack
) -> None:
    demo = stack.slack
    chat = _chat(remote)
    chat.handle("what depends on contoso-ny-db-prod-01?")
    text = chat.wait_for("contoso-erp-db")
    assert "opshand #ops → thread" in text
    # the question is in the demo's own workspace, as Ana said it
    asked = demo.find_message("ops", text="what depends on contoso-ny-db-prod-01")
    assert asked is not None and asked["user"] == demo.user_id("ana")
    # someone in the browser says something: the terminal shows it
    demo.send_message(DEVIKA, "ops", "hello from the browser")
    chat.wait_for("hello from the browser")
    assert "devika #ops" in chat.text()


def test_a_change_asked_in_the_terminal_is_approved_there_as_someone_else(
    stack: DemoStack, remote: RemoteSlack
) -> None:
    chat = _chat(remote)
    chat.handle("reboot contoso-ny-bkp-prod-01 now")
    text = chat.wait_for("Approve")
    approve = int(re.findall(r"\[(\d+)\] Approve(?! for)", text)[-1])
    chat.handle("/as ben")
    chat.handle(str(approve))
    chat.wait_for("reconciled")
    sim = stack.oh.sim
    assert sim is not None and sim.effects("rmm", "reboot") == 1
    [change] = stack.oh.ops.journal.list()
    assert change.state == "reconciled"


def test_notes_only_one_person_sees_reach_only_that_person(
    stack: DemoStack, remote: RemoteSlack
) -> None:
    chat = _chat(remote)
    chat.handle("/as devika")
    chat.handle("/opshand digest")
    chat.wait_for("(only you)")
    other = _chat(remote)  # Ana's terminal: Devika's digest is not hers
    other.settle(expect=False)
    assert "(only you)" not in other.text()


def test_chat_runs_the_alert_step_in_the_running_demo(
    stack: DemoStack, remote: RemoteSlack
) -> None:
    chat = _chat(remote)
    chat.handle("/in incidents")
    chat.handle("/run fire-alert")
    chat.wait_for("reconciled")
    assert stack.slack.messages("incidents")


def test_joining_something_that_is_not_a_workspace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RemoteUnavailable):
        RemoteSlack("http://127.0.0.1:9/")


def test_running_demo_reads_the_address_file(tmp_path: Path) -> None:
    assert running_demo(tmp_path) is None
    (tmp_path / RUNNING_FILE).write_text("not json")
    assert running_demo(tmp_path) is None
    (tmp_path / RUNNING_FILE).write_text(json.dumps({"url": "http://127.0.0.1:8765/"}))
    assert running_demo(tmp_path) == "http://127.0.0.1:8765/"


def test_opshand_chat_joins_the_demo_running_on_its_data_folder(stack: DemoStack) -> None:
    data = stack.oh.settings.data_dir
    (data / RUNNING_FILE).write_text(json.dumps({"url": stack.slack.web_url}))
    lines = "what depends on contoso-ny-db-prod-01?\n/wait contoso-erp-db\n/quit\n"
    result = CliRunner().invoke(app, ["chat", "--data-dir", str(data)], input=lines)
    assert result.exit_code == 0, result.output
    assert f"Joined the running demo at {stack.slack.web_url}" in result.output
    assert "contoso-erp-db" in result.output
    assert "Fire an alert — type: /run fire-alert" in result.output
    # it did not start a second opshand on the same data folder
    assert "Stopped. Your data is kept" not in result.output
    assert stack.slack.find_message("ops", text="what depends on") is not None
    # --reset beside a running demo is refused, and nothing is deleted
    refused = CliRunner().invoke(app, ["chat", "--data-dir", str(data), "--reset"], input="")
    assert refused.exit_code == 2
    assert (data / "opshand.db").exists()


def test_opshand_chat_join_of_a_dead_address_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["chat", "--data-dir", str(tmp_path), "--join", "http://127.0.0.1:9/"], input=""
    )
    assert result.exit_code == 1
