"""A real Bolt app driven through LocalSlack: mentions, buttons, commands, modals, App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond, Say
from slack_sdk import WebClient

from bot.localslack import BoltServer, LocalSlack
from tests.bot.localslack.conftest import ANA, BEN, SECRET, BoltFactory, make_app

CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Reboot db-prod-01"}},
    {
        "type": "actions",
        "block_id": "consent",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "cr-42",
            },
            {
                "type": "button",
                "action_id": "reject",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": "cr-42",
            },
        ],
    },
]

MODAL = {
    "type": "modal",
    "callback_id": "change_request",
    "title": {"type": "plain_text", "text": "Request a change"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "blocks": [
        {
            "type": "input",
            "block_id": "target",
            "label": {"type": "plain_text", "text": "Host"},
            "element": {"type": "plain_text_input", "action_id": "host"},
        }
    ],
}


def test_mention_reaches_app_mention_and_reply_lands_in_thread(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    app = bolt()

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        say(text=f"hi <@{event['user']}>", thread_ts=event.get("thread_ts") or event["ts"])

    ts = slack.send_message(ANA, "#ops", f"<@{slack.bot_user_id}> what is down?")
    reply = slack.wait_for(lambda: slack.find_message("ops", thread_ts=ts, user=slack.bot_user_id))
    assert reply["text"] == f"hi <@{ANA}>"
    assert reply["thread_ts"] == ts
    [attempt] = slack.deliveries()
    assert attempt.status == 200
    envelope = attempt.payload
    assert envelope["type"] == "event_callback"
    assert envelope["event"]["type"] == "app_mention"
    assert envelope["event"]["channel"] == slack.channel_id("ops")
    assert envelope["authorizations"][0]["user_id"] == slack.bot_user_id
    assert envelope["event_id"].startswith("Ev")


def test_message_without_mention_is_not_delivered_by_default(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    bolt()
    slack.send_message(ANA, "ops", "just chatting")
    assert slack.deliveries() == []


def test_button_click_reaches_action_listener_which_updates_the_card(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    app = bolt()
    seen: list[dict[str, Any]] = []

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        seen.append(body)
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"approved by <@{body['user']['id']}>",
            blocks=[],
        )

    posted = WebClient(token="xoxb-local", base_url=slack.api_url).chat_postMessage(
        channel="C0LOCALAPR", text="consent needed", blocks=CARD
    )
    status = slack.click(BEN, "ops-approvals", posted["ts"], "approve")
    assert status == 200
    updated = slack.wait_for(lambda: slack.find_message("ops-approvals", text="approved by"))
    assert updated["text"] == f"approved by <@{BEN}>"
    assert updated["blocks"] == []
    [body] = seen
    assert body["type"] == "block_actions"
    assert body["actions"][0]["value"] == "cr-42"
    assert body["actions"][0]["block_id"] == "consent"
    assert body["container"]["message_ts"] == posted["ts"]
    assert body["user"]["id"] == BEN
    assert body["response_url"].startswith(slack.base_url)


def test_respond_replace_original_from_a_click(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()

    @app.action("reject")
    def on_reject(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="rejected", replace_original=True)

    posted = WebClient(token="xoxb-local", base_url=slack.api_url).chat_postMessage(
        channel="C0LOCALAPR", text="consent needed", blocks=CARD
    )
    assert slack.click(BEN, "ops-approvals", posted["ts"], "reject") == 200
    slack.wait_for(lambda: slack.find_message("ops-approvals", text="rejected"))
    assert len(slack.messages("ops-approvals")) == 1


def test_slash_command_ack_text_is_ephemeral_and_respond_posts(
    slack: LocalSlack, bolt: BoltFactory
) -> None:
    app = bolt()

    @app.command("/opshand")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack(text=f"working on {command['text']}")
        respond(text="done", response_type="in_channel")

    assert slack.slash(ANA, "ops", "/opshand", "status db-prod-01") == 200
    assert [m["text"] for m in slack.ephemerals(ANA)] == ["working on status db-prod-01"]
    slack.wait_for(lambda: slack.find_message("ops", text="done"))
    assert slack.ephemerals(BEN) == []


def _modal_app(app: App) -> None:
    @app.command("/request")
    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("change_request")
    def on_submit(ack: Ack, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        host = view["state"]["values"]["target"]["host"]["value"]
        if host == "nope":
            ack(response_action="errors", errors={"target": "unknown host"})
            return
        ack()
        client.chat_postMessage(channel="C0LOCALOPS", text=f"{host} for <@{body['user']['id']}>")


def test_modal_open_errors_then_submission(slack: LocalSlack, bolt: BoltFactory) -> None:
    _modal_app(bolt())
    assert slack.slash(ANA, "ops", "/request", "") == 200
    view = slack.wait_for(lambda: slack.view_for(ANA))
    assert view["callback_id"] == "change_request"
    assert slack.submit_view(ANA, view["id"], {"host": "nope"}) == 200
    assert slack.view_errors(view["id"]) == {"target": "unknown host"}
    assert slack.view_for(ANA) is not None
    assert slack.submit_view(ANA, view["id"], {"target": {"host": "db-prod-01"}}) == 200
    assert slack.view_for(ANA) is None
    posted = slack.wait_for(lambda: slack.find_message("ops", text="db-prod-01"))
    assert posted["text"] == f"db-prod-01 for <@{ANA}>"


def test_submit_view_names_a_missing_required_field(slack: LocalSlack, bolt: BoltFactory) -> None:
    _modal_app(bolt())
    slack.slash(ANA, "ops", "/request", "")
    view = slack.wait_for(lambda: slack.view_for(ANA))
    try:
        slack.submit_view(ANA, view["id"], {})
    except ValueError as exc:
        assert "Host" in str(exc)
    else:
        raise AssertionError("an empty required field was submitted")


def test_trigger_id_is_single_use(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    errors: list[str] = []

    @app.command("/twice")
    def twice(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        try:
            client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        except Exception as exc:
            errors.append(str(exc))

    slack.slash(ANA, "ops", "/twice", "")
    slack.wait_for(lambda: errors)
    assert "exchanged_trigger_id" in errors[0]


def test_app_home_opened_publishes_home(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "Pending: 0"}},
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "refresh",
                                "text": {"type": "plain_text", "text": "Refresh"},
                            }
                        ],
                    },
                ],
            },
        )

    clicks: list[str] = []

    @app.action("refresh")
    def on_refresh(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        clicks.append(body["container"]["type"])

    assert slack.open_home(BEN) == 200
    home = slack.wait_for(lambda: slack.home_for(BEN))
    assert home["blocks"][0]["text"]["text"] == "Pending: 0"
    assert slack.click_view(BEN, home["id"], "refresh") == 200
    assert slack.wait_for(lambda: clicks) == ["view"]


def test_direct_messages_with_the_bot() -> None:
    with LocalSlack(signing_secret=SECRET, events={"message.im"}, retry_delays=()) as slack:
        app = make_app(slack)

        @app.event("message")
        def on_dm(event: dict[str, Any], say: Say) -> None:
            say(text=f"you said {event['text']} in a {event['channel_type']}")

        with BoltServer(app) as server:
            slack.bot_url = server.url
            web = WebClient(token="xoxb-local", base_url=slack.api_url)
            opened = web.conversations_open(users=ANA)
            dm = opened["channel"]["id"]
            assert dm.startswith("D")
            slack.send_message(ANA, dm, "status?")
            slack.wait_for(lambda: slack.find_message(dm, text="you said status? in a im"))
            assert web.conversations_open(users=ANA)["already_open"] is True
            ims = web.conversations_list(types="im")["channels"]
            assert [(c["id"], c["user"]) for c in ims] == [(dm, ANA)]
            web.chat_postMessage(channel=ANA, text="digest is ready")
            assert slack.messages(dm)[-1]["text"] == "digest is ready"
            assert [a.status for a in slack.deliveries()] == [200]
