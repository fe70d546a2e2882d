"""Legacy attachments (a colour bar around blocks): stored, checked, updated and clickable
like Slack's; the page draws the colour."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.localslack import LocalSlack
from tests.bot.localslack.conftest import BEN, BoltFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BUTTON = {
    "type": "actions",
    "block_id": "consent",
    "elements": [
        {
            "type": "button",
            "action_id": "approve",
            "text": {"type": "plain_text", "text": "Approve"},
            "value": "cr-42",
            "style": "primary",
            "confirm": {
                "title": {"type": "plain_text", "text": "Critical collateral"},
                "text": {"type": "mrkdwn", "text": "Sure?"},
                "confirm": {"type": "plain_text", "text": "Approve"},
                "deny": {"type": "plain_text", "text": "Back"},
            },
        }
    ],
}


def test_attachments_are_stored_numbered_with_colour_and_checked_blocks(
    slack: LocalSlack, client: WebClient
) -> None:
    att = [{"color": "#ECB22E", "blocks": [BUTTON], "fallback": "consent needed"}]
    posted = client.chat_postMessage(channel="C0LOCALAPR", text="t", attachments=att)
    (stored,) = posted["message"]["attachments"]
    assert stored["id"] == 1 and stored["color"] == "ECB22E"  # Slack drops the "#"
    assert stored["blocks"][0]["elements"][0]["confirm"]["title"]["text"] == "Critical collateral"
    # chat.update replaces them; the colour follows
    client.chat_update(
        channel="C0LOCALAPR", ts=posted["ts"], text="t", attachments=[{"color": "#2EB67D"}]
    )
    now = slack.find_message("ops-approvals", text="t")
    assert [a["color"] for a in now["attachments"]] == ["2EB67D"]
    # blocks inside an attachment are checked like a message's
    bad = [{"color": "#2EB67D", "blocks": [{"type": "section", "text": {"type": "mrkdwn"}}]}]
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0LOCALAPR", text="t", attachments=bad)
    assert exc.value.response["error"] == "invalid_attachments"
    assert "/attachments/0/blocks/0" in " ".join(
        exc.value.response["response_metadata"]["messages"]
    )
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0LOCALAPR", text="t", attachments=[{"color": "red;"}])
    assert exc.value.response["error"] == "invalid_attachments"


def test_a_button_in_an_attachment_reaches_bolt_with_its_container(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    app = bolt()
    seen: list[dict[str, Any]] = []

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen.append(body)

    posted = WebClient(token="xoxb-local", base_url=slack.api_url).chat_postMessage(
        channel="C0LOCALAPR", text="card", attachments=[{"color": "#ECB22E", "blocks": [BUTTON]}]
    )
    assert slack.click(BEN, "ops-approvals", posted["ts"], "approve") == 200
    slack.wait_for(lambda: seen, timeout=10)
    [body] = seen
    assert body["actions"][0]["value"] == "cr-42"
    assert body["container"]["type"] == "message_attachment"
    assert body["container"]["attachment_id"] == 1
    assert body["message"]["attachments"][0]["color"] == "ECB22E"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")
def test_the_page_draws_the_colour_and_asks_before_a_confirm_button(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    app = bolt()

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text="Approved", blocks=[]
        )

    head = {"type": "header", "text": {"type": "plain_text", "text": ":hourglass: Waiting <b>"}}
    WebClient(token="xoxb-local", base_url=slack.api_url).chat_postMessage(
        channel="C0LOCALAPR",
        text="card",
        blocks=[head],
        attachments=[{"color": "#ECB22E", "blocks": [BUTTON]}],
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            asked: list[str] = []

            def answer(dialog: Any) -> None:
                asked.append(dialog.message)
                dialog.accept()

            page.on("dialog", answer)
            page.goto(slack.web_url)
            page.select_option("#user-select", BEN)
            page.click(".nav-item:has-text('ops-approvals')")
            bar = page.wait_for_selector(".attachment")
            assert bar is not None
            color = bar.evaluate("el => getComputedStyle(el).borderLeftColor")
            assert color == "rgb(236, 178, 46)"
            # a header's emoji shortcode is drawn; its text is never parsed as markup
            assert page.inner_text(".block.header") == "\u231b Waiting <b>"
            page.click(".attachment button:has-text('Approve')")
            page.wait_for_selector("#messages :text('Approved')")
            assert asked and asked[0].startswith("Critical collateral")
            assert errors == []
        finally:
            browser.close()
