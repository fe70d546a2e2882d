"""The web page's endpoints go through the same delivery path as tests do."""

from __future__ import annotations

from typing import Any

import httpx
from slack_bolt import Ack, Say

from bot.localslack import LocalSlack
from tests.bot.localslack.conftest import ANA, BEN, SECRET, BoltFactory
from tests.bot.localslack.test_bolt_flows import CARD, MODAL


def _post(slack: LocalSlack, action: str, **body: Any) -> dict[str, Any]:
    # as the page does: JSON, with the token the server wrote into the page
    headers = {"X-Opshand-UI-Token": slack.ui_token}
    response = httpx.post(f"{slack.web_url}ui/{action}", json=body, headers=headers, timeout=10)
    result: dict[str, Any] = response.json()
    return result


def test_page_and_assets_are_served(slack: LocalSlack) -> None:
    page = httpx.get(slack.web_url)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for asset in ("app.js", "blocks.js", "style.css"):
        assert f"/static/{asset}" in page.text
        assert httpx.get(f"{slack.web_url}static/{asset}").status_code == 200


def test_state_lists_people_channels_and_try_this() -> None:
    with LocalSlack(signing_secret=SECRET, try_this=["@opshand what is down?"]) as slack:
        state = httpx.get(f"{slack.web_url}ui/state", params={"user": ANA}).json()
        assert [(s["title"], s["say"]) for s in state["try_this"]] == [
            ("@opshand what is down?", "@opshand what is down?")
        ]
        assert [c["name"] for c in state["channels"]] == ["ops", "ops-approvals", "ops-digest"]
        assert {u["title"] for u in state["users"]} >= {"On-call engineer", "Engineering manager"}
        same = httpx.get(
            f"{slack.web_url}ui/state", params={"user": ANA, "since": state["version"]}
        ).json()
        assert same == {"changed": False, "version": state["version"]}
        slack.send_message(ANA, "ops", "hello")
        changed = httpx.get(
            f"{slack.web_url}ui/state", params={"user": ANA, "since": state["version"]}
        ).json()
        assert changed["changed"] is True
        assert changed["messages"]["C0LOCALOPS"][0]["text"] == "hello"


def test_typed_at_name_becomes_an_app_mention(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    texts: list[str] = []

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        texts.append(event["text"])

    answer = _post(slack, "send", user=ANA, channel="C0LOCALOPS", text="@opshand ping @ben")
    assert answer["ok"] is True
    assert slack.wait_for(lambda: texts) == [f"<@{slack.bot_user_id}> ping <@{BEN}>"]


def test_page_buttons_and_modals_send_real_payloads(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()
    submitted: list[str] = []

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("change_request")
    def on_submit(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        submitted.append(view["state"]["values"]["target"]["host"]["value"])

    ts = slack.people.ws.add_message(
        "C0LOCALAPR",
        {
            "type": "message",
            "user": slack.bot_user_id,
            "text": "card",
            "ts": "1.000001",
            "blocks": CARD,
        },
    )["ts"]
    click = _post(
        slack, "click", user=BEN, channel="C0LOCALAPR", message_ts=ts, action_id="approve"
    )
    assert click == {"ok": True, "status": 200}
    modal = slack.wait_for(lambda: slack.view_for(BEN))
    bad = _post(slack, "submit", user=BEN, view_id=modal["id"], values={"target": {"host": None}})
    assert bad["ok"] is False
    assert "Host" in bad["error"]
    good = _post(
        slack, "submit", user=BEN, view_id=modal["id"], values={"target": {"host": "web-01"}}
    )
    assert good == {"ok": True, "status": 200}
    assert slack.wait_for(lambda: submitted) == ["web-01"]


def test_slash_typed_in_the_box_runs_the_command(slack: LocalSlack, bolt: BoltFactory) -> None:
    app = bolt()

    @app.command("/opshand")
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"got {command['text']}")

    answer = _post(slack, "send", user=ANA, channel="C0LOCALOPS", text="/opshand status")
    assert answer == {"ok": True, "status": 200}
    assert [m["text"] for m in slack.ephemerals(ANA, "ops")] == ["got status"]


def test_bad_requests_name_the_problem(slack: LocalSlack) -> None:
    unknown_user = _post(slack, "send", user="U0NOBODY00", channel="C0LOCALOPS", text="x")
    assert unknown_user["ok"] is False
    assert "U0NOBODY00" in unknown_user["error"]
    no_channel = _post(slack, "send", user=ANA, channel=None, text="x")
    assert no_channel == {"ok": False, "error": "a channel must be an id or a name, not None"}
    missing = _post(slack, "click", user=ANA)
    assert missing["ok"] is False
    assert "channel" in missing["error"]
    response = httpx.post(
        f"{slack.web_url}ui/teleport", json={}, headers={"X-Opshand-UI-Token": slack.ui_token}
    )
    assert response.status_code == 400
