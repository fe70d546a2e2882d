"""Unfurling is off on every path that posts: the local Slack server captures each payload.

``unfurl_links``/``unfurl_media`` are arguments of ``chat.postMessage`` and of a
``response_url`` body (https://api.slack.com/methods/chat.postMessage,
https://api.slack.com/interactivity/handling#message_responses).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.listeners.unfurl import POSTING_METHODS, quiet_links
from bot.localslack import BoltServer, LocalSlack
from tests.bot.world import ANA, BEN, FAKE_BEN, World, card_of, ref_in, slack_world, wait_text


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as w:
        yield w


def test_every_post_update_ephemeral_and_response_has_unfurling_off(world: World) -> None:
    s = world.slack
    ts = s.send_message(ANA, "ops", f"<@{world.bot}> reboot contoso-ny-bkp-prod-01 now")
    ref = ref_in(wait_text(world, "ops", "waiting for consent", thread_ts=ts))
    card = card_of(world, ref)
    s.click(FAKE_BEN, "ops-approvals", card["ts"], "consent_approve")  # refused, via respond
    s.wait_for(lambda: s.ephemerals(FAKE_BEN), timeout=10)
    s.click(BEN, "ops-approvals", card["ts"], "consent_approve")
    s.wait_for(lambda: world.oh.ops.status(ref).state == "reconciled", timeout=30)
    s.slash(ANA, "ops", "/opshand", f"status {ref}")  # answered through response_url
    s.wait_for(lambda: s.calls("response_url"), timeout=10)
    s.wait_for(lambda: s.calls("chat.update"), timeout=10)
    sent = [c for c in s.calls() if c.method in POSTING_METHODS | {"response_url"}]
    kinds = {c.method for c in sent}
    assert {"chat.postMessage", "chat.update", "response_url"} <= kinds
    loud = [(c.method, c.params) for c in sent if c.params.get("unfurl_links") is not False]
    loud += [(c.method, c.params) for c in sent if c.params.get("unfurl_media") is not False]
    assert loud == []


def test_say_and_respond_in_any_listener_are_quiet() -> None:
    # a listener written without a thought for unfurling still posts quietly
    with LocalSlack(signing_secret="s") as slack:
        client = WebClient(token="xoxb-local", base_url=slack.api_url)
        app = App(signing_secret="s", client=client, token_verification_enabled=False)
        from bot.listeners.unfurl import register_quiet_links

        register_quiet_links(app)

        @app.event("app_mention")
        def mention(say: object, event: dict[str, str]) -> None:
            say(text="see https://example.com", thread_ts=event["ts"])  # type: ignore[operator]

        @app.command("/ping")
        def ping(ack: object, respond: object) -> None:
            ack()  # type: ignore[operator]
            respond(text="pong https://example.com")  # type: ignore[operator]

        with BoltServer(app) as server:
            slack.bot_url = server.url
            slack.send_message(ANA, "ops", f"<@{slack.bot_user_id}> hi")
            slack.slash(ANA, "ops", "/ping", "")
            slack.wait_for(lambda: slack.calls("chat.postMessage") and slack.calls("response_url"))
        said = slack.calls("chat.postMessage")[0].params
        answered = slack.calls("response_url")[0].params
        for params in (said, answered):
            assert params["unfurl_links"] is False and params["unfurl_media"] is False
        quiet_links(client).chat_postEphemeral(channel="ops", user=ANA, text="psst")
        assert slack.calls("chat.postEphemeral")[-1].params["unfurl_media"] is False
        # an explicit choice is kept
        quiet_links(client).chat_postMessage(channel="ops", text="x", unfurl_links=True)
        assert slack.calls("chat.postMessage")[-1].params["unfurl_links"] is True
