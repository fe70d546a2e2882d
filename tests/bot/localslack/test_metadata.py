"""Message metadata kept and returned like Slack: on request only, kept across chat.update."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.localslack import LocalSlack
from tests.bot.localslack.conftest import ANA, TOKEN

META = {"event_type": "opshand_answer", "event_payload": {"event_id": "Ev0TEST0001"}}


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def _thread(client: WebClient, channel: str, ts: str, **kw: Any) -> list[dict[str, Any]]:
    return list(client.conversations_replies(channel=channel, ts=ts, **kw)["messages"])


def test_metadata_is_returned_by_replies_only_with_include_all_metadata(
    slack: LocalSlack, client: WebClient
) -> None:
    channel = slack.channel_id("ops")
    root = slack.send_message(ANA, "ops", "is db-01 up?")
    posted = client.chat_postMessage(channel=channel, text="yes", thread_ts=root, metadata=META)
    assert posted["message"]["metadata"] == META

    with_meta = _thread(client, channel, root, include_all_metadata=True)
    assert [m.get("metadata") for m in with_meta] == [None, META]
    without = _thread(client, channel, root)
    assert [m["text"] for m in without] == ["is db-01 up?", "yes"]
    assert all("metadata" not in m for m in without)
    # stripping a reply does not strip the stored message
    assert _thread(client, channel, root, include_all_metadata=True)[1]["metadata"] == META


def test_metadata_is_returned_by_history_only_with_include_all_metadata(
    slack: LocalSlack, client: WebClient
) -> None:
    channel = slack.channel_id("ops")
    client.chat_postMessage(channel=channel, text="top-level answer", metadata=META)
    newest = client.conversations_history(channel=channel, limit=1, include_all_metadata=True)
    assert newest["messages"][0]["metadata"] == META
    plain = client.conversations_history(channel=channel, limit=1)
    assert plain["messages"][0]["text"] == "top-level answer"
    assert "metadata" not in plain["messages"][0]


def test_chat_update_keeps_replaces_or_removes_metadata(
    slack: LocalSlack, client: WebClient
) -> None:
    channel = slack.channel_id("ops")
    ts = client.chat_postMessage(channel=channel, text="v1", metadata=META)["ts"]

    kept = client.chat_update(channel=channel, ts=ts, text="v2")
    assert kept["message"]["metadata"] == META
    other = {"event_type": "opshand_answer", "event_payload": {"event_id": "Ev0OTHER01"}}
    replaced = client.chat_update(channel=channel, ts=ts, text="v3", metadata=other)
    assert replaced["message"]["metadata"] == other
    removed = client.chat_update(channel=channel, ts=ts, text="v4", metadata={})
    assert "metadata" not in removed["message"]
    message = slack.find_message("ops", text="v4")
    assert message is not None and "metadata" not in message


def test_metadata_sent_form_encoded_is_parsed(slack: LocalSlack) -> None:
    channel = slack.channel_id("ops")
    resp = httpx.post(
        slack.api_url + "chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"channel": channel, "text": "form", "metadata": json.dumps(META)},
    ).json()
    assert resp["ok"] is True
    assert resp["message"]["metadata"] == META


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ("not json", "invalid_metadata_format"),
        ('["a list"]', "invalid_metadata_format"),
        ('{"event_payload": {"a": 1}}', "invalid_metadata_schema"),
        ('{"event_type": "x", "event_payload": "flat"}', "invalid_metadata_schema"),
    ],
)
def test_malformed_metadata_is_refused_as_slack_does(
    slack: LocalSlack, metadata: str, error: str
) -> None:
    resp = httpx.post(
        slack.api_url + "chat.postMessage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"channel": slack.channel_id("ops"), "text": "x", "metadata": metadata},
    ).json()
    assert resp == {"ok": False, "error": error}
    assert slack.find_message("ops", text="x", predicate=lambda m: bool(m.get("bot_id"))) is None
