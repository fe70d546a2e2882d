"""The local workspace keeps its channel history in a JSON file between runs."""

from __future__ import annotations

import json
from pathlib import Path

from slack_sdk import WebClient

from bot.localslack import LocalSlack
from bot.localslack.history import FORMAT, History
from tests.bot.localslack.conftest import ANA, SECRET, TOKEN


def _run(path: Path) -> LocalSlack:
    slack = LocalSlack(signing_secret=SECRET, history=path)
    slack.start()
    return slack


def test_messages_threads_files_and_created_channels_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "workspace.json"
    first = _run(path)
    try:
        client = WebClient(token=TOKEN, base_url=first.api_url)
        root = first.send_message(ANA, "ops", "hello before the restart")
        client.chat_postMessage(channel="ops", text="a reply", thread_ts=root)
        created = client.conversations_create(name="inc-cr-9")["channel"]["id"]
        client.chat_postMessage(channel=created, text="in a new channel")
        client.files_upload_v2(
            channel=first.channel_id("ops"), content=b"\x89PNG fake", filename="chart.png"
        )
        first.wait_for(lambda: first.find_message("ops", predicate=lambda m: "files" in m))
    finally:
        first.stop()
    second = _run(path)
    try:
        [hello, upload] = second.messages("ops")
        assert hello["text"] == "hello before the restart" and hello["reply_count"] == 1
        thread = second.messages("ops", thread_ts=root)
        assert [m["text"] for m in thread] == ["hello before the restart", "a reply"]
        assert second.channel_id("inc-cr-9") == created
        assert second.find_message("inc-cr-9", text="in a new channel") is not None
        [shared] = upload["files"]
        stored = second.workspace.files[shared["id"]]
        assert stored["content"] == b"\x89PNG fake"
        # new messages come after the restored ones
        later = second.send_message(ANA, "ops", "after")
        assert float(later) > float(root)
    finally:
        second.stop()


def test_without_a_history_file_nothing_is_kept(tmp_path: Path) -> None:
    with LocalSlack(signing_secret=SECRET) as slack:
        slack.send_message(ANA, "ops", "gone")
    assert list(tmp_path.iterdir()) == []
    with LocalSlack(signing_secret=SECRET) as slack:
        assert slack.messages("ops") == []


def test_the_file_is_written_while_running_not_only_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "workspace.json"
    slack = _run(path)
    try:
        slack.send_message(ANA, "ops", "written soon")

        def kept() -> bool:
            return path.exists() and "written soon" in path.read_text()

        assert slack.wait_for(kept, timeout=5)
        assert json.loads(path.read_text())["format"] == FORMAT
        assert not path.with_name("workspace.json.new").exists()
    finally:
        slack.stop()


def test_an_unreadable_file_is_set_aside_and_the_workspace_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "workspace.json"
    path.write_text("{not json")
    slack = _run(path)
    try:
        assert slack.messages("ops") == []
        assert path.with_name("workspace.json.unreadable").read_text() == "{not json"
    finally:
        slack.stop()
    path.write_text(json.dumps({"format": FORMAT + 1, "messages": {}}))
    with LocalSlack(signing_secret=SECRET) as other:
        history = History(other.workspace, path)
        assert history.load() == 0
    assert not path.exists()


def test_stop_without_start_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "workspace.json"
    slack = LocalSlack(signing_secret=SECRET, history=path)
    slack.stop()
    assert not path.exists()
