"""The web page driven by headless Debian chromium: type, click, fill a modal, open Home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, Say
from slack_sdk import WebClient

from bot.localslack import BoltServer, LocalSlack
from tests.bot.localslack.conftest import BEN, SECRET, make_app
from tests.bot.localslack.test_bolt_flows import CARD, MODAL

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed"),
]


@pytest.fixture
def workspace() -> Iterator[LocalSlack]:
    """LocalSlack with a small bot: a card in thread on mention, a modal on /request, Home."""
    with LocalSlack(signing_secret=SECRET, try_this=["@opshand reboot db-prod-01"]) as slack:
        app = make_app(slack)

        @app.event("app_mention")
        def on_mention(event: dict[str, Any], say: Say) -> None:
            say(text="Consent needed", blocks=CARD, thread_ts=event["ts"])

        @app.action("approve")
        def on_approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            client.chat_update(
                channel=body["channel"]["id"],
                ts=body["message"]["ts"],
                text=f"Approved by <@{body['user']['id']}>",
                blocks=[],
            )

        @app.command("/request")
        def on_request(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            client.views_open(trigger_id=body["trigger_id"], view=MODAL)

        @app.view("change_request")
        def on_submit(ack: Ack, view: dict[str, Any], client: WebClient) -> None:
            host = view["state"]["values"]["target"]["host"]["value"]
            if host == "nope":
                ack(response_action="errors", errors={"target": "No such host"})
                return
            ack()
            client.chat_postMessage(channel="C0LOCALOPS", text=f"Requested {host}")

        @app.event("app_home_opened")
        def on_home(event: dict[str, Any], client: WebClient) -> None:
            section = {"type": "section", "text": {"type": "mrkdwn", "text": "*2* changes wait"}}
            client.views_publish(user_id=event["user"], view={"type": "home", "blocks": [section]})

        with BoltServer(app) as server:
            slack.bot_url = server.url
            yield slack


def test_page_drives_the_bot_end_to_end(workspace: LocalSlack) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(workspace.web_url)
            page.click(".chip")
            assert page.input_value("#message-input") == "@opshand reboot db-prod-01"
            page.click("#composer button[type=submit]")
            page.click("text=1 reply")
            page.wait_for_selector("#thread .block.header")
            page.select_option("#user-select", BEN)
            page.click("#thread button:has-text('Approve')")
            page.wait_for_selector("#thread :text('Approved by @ben')")

            page.fill("#message-input", "/request")
            page.click("#composer button[type=submit]")
            page.fill("input[name='target/host']", "nope")
            page.click(".modal button[type=submit]")
            page.wait_for_selector(".field-error:has-text('No such host')")
            page.fill("input[name='target/host']", "db-prod-01")
            page.click(".modal button[type=submit]")
            page.wait_for_selector("#messages :text('Requested db-prod-01')")
            # The modal closes when the page reads the submission's answer, which can come just
            # after the listener's message on a loaded machine: wait for it (fails if it stays).
            page.wait_for_selector("#modal-overlay", state="hidden", timeout=10_000)

            page.click("#home-link")
            page.wait_for_selector("#messages :text('changes wait')")
            assert errors == []
        finally:
            browser.close()
