"""The Web API answers like Slack: shapes, error codes, auth, 429s, all body encodings."""

from __future__ import annotations

import json

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.localslack import LocalSlack
from tests.bot.localslack.conftest import BEN, TOKEN


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def test_auth_test_names_the_bot(slack: LocalSlack, client: WebClient) -> None:
    result = client.auth_test()
    assert result["ok"] is True
    assert result["user_id"] == slack.bot_user_id
    assert result["bot_id"] == slack.bot_id
    assert result["team_id"] == "T0LOCAL01"


def test_missing_token_is_not_authed(slack: LocalSlack) -> None:
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=slack.api_url).auth_test()
    assert _error(exc) == "not_authed"


def test_wrong_token_is_invalid_auth(slack: LocalSlack) -> None:
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()
    assert _error(exc) == "invalid_auth"


def test_unknown_method_is_404(slack: LocalSlack) -> None:
    response = httpx.post(slack.api_url + "chat.teleport", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error": "unknown_method",
        "req_method": "chat.teleport",
    }


def test_post_message_shape_and_thread_fields(slack: LocalSlack, client: WebClient) -> None:
    ops = slack.channel_id("ops")
    parent = client.chat_postMessage(channel=ops, text="hello")
    assert parent["channel"] == ops
    message = parent["message"]
    assert message["user"] == slack.bot_user_id
    assert message["bot_id"] == slack.bot_id
    assert message["ts"] == parent["ts"]
    reply = client.chat_postMessage(channel=ops, text="in thread", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    stored_parent = slack.messages("#ops")[-1]
    assert stored_parent["reply_count"] == 1
    assert stored_parent["latest_reply"] == reply["ts"]
    replies = client.conversations_replies(channel=ops, ts=parent["ts"])["messages"]
    assert [m["text"] for m in replies] == ["hello", "in thread"]
    assert [m["text"] for m in slack.messages("ops")] == ["hello"]


def test_post_message_accepts_a_channel_name(slack: LocalSlack, client: WebClient) -> None:
    result = client.chat_postMessage(channel="#ops-digest", text="digest")
    assert result["channel"] == slack.channel_id("ops-digest")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE0000", "text": "x"}, "channel_not_found"),
        ({"channel": "C0LOCALOPS", "text": "x" * 40_001}, "msg_too_long"),
        (
            {"channel": "C0LOCALOPS", "blocks": [{"type": "divider"}] * 51, "text": "x"},
            "invalid_blocks",
        ),
        ({"channel": "C0LOCALOPS", "blocks": [{"type": "marquee"}], "text": "x"}, "invalid_blocks"),
    ],
)
def test_post_message_errors(client: WebClient, kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
    assert _error(exc) == error


def test_post_message_without_text_or_blocks_is_no_text(client: WebClient) -> None:
    # api_call directly: the SDK's chat_postMessage warns before sending such a call.
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.postMessage", json={"channel": "C0LOCALOPS"})
    assert _error(exc) == "no_text"


def test_invalid_blocks_explains_with_a_json_pointer(client: WebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0LOCALOPS", text="x", blocks=[header])
    messages = exc.value.response["response_metadata"]["messages"]
    assert messages == [
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    ]


def test_update_replaces_text_and_keeps_blocks(slack: LocalSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*card*"}}]
    posted = client.chat_postMessage(channel="C0LOCALOPS", text="v1", blocks=blocks)
    updated = client.chat_update(channel="C0LOCALOPS", ts=posted["ts"], text="v2")
    assert updated["text"] == "v2"
    stored = slack.find_message("ops", text="v2")
    assert stored is not None
    assert stored["blocks"][0]["text"]["text"] == "*card*"
    assert stored["blocks"][0]["block_id"]
    assert stored["edited"]["user"] == slack.bot_user_id


def test_update_of_a_persons_message_is_refused(slack: LocalSlack, client: WebClient) -> None:
    ts = slack.send_message(BEN, "ops", "mine")
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0LOCALOPS", ts=ts, text="hijack")
    assert _error(exc) == "cant_update_message"
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C0LOCALOPS", ts="1.000001", text="x")
    assert _error(exc) == "message_not_found"


def test_ephemeral_only_for_members(slack: LocalSlack, client: WebClient) -> None:
    result = client.chat_postEphemeral(channel="C0LOCALOPS", user=BEN, text="psst")
    assert result["message_ts"]
    assert [m["text"] for m in slack.ephemerals(BEN)] == ["psst"]
    assert slack.messages("ops") == []
    with pytest.raises(SlackApiError) as exc:
        client.chat_postEphemeral(channel="C0LOCALOPS", user="U0NOBODY00", text="x")
    assert _error(exc) == "user_not_in_channel"


def test_permalink_points_at_the_web_page(slack: LocalSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0LOCALOPS", text="x")["ts"]
    link = client.chat_getPermalink(channel="C0LOCALOPS", message_ts=ts)["permalink"]
    assert link == f"{slack.web_url}archives/C0LOCALOPS/p{ts.replace('.', '')}"
    assert httpx.get(link, follow_redirects=True).status_code == 200


def test_conversations_list_paginates(client: WebClient) -> None:
    first = client.conversations_list(limit=2)
    assert len(first["channels"]) == 2
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor
    rest = client.conversations_list(limit=2, cursor=cursor)
    names = {c["name"] for c in [*first["channels"], *rest["channels"]]}
    assert names == {"ops", "ops-approvals", "ops-digest"}
    assert rest["response_metadata"]["next_cursor"] == ""
    with pytest.raises(SlackApiError) as exc:
        client.conversations_list(cursor="garbage")
    assert _error(exc) == "invalid_cursor"


def test_conversations_create_join_and_history(client: WebClient) -> None:
    created = client.conversations_create(name="incident-42")["channel"]
    assert created["id"].startswith("C")
    assert created["is_member"] is True
    with pytest.raises(SlackApiError) as exc:
        client.conversations_create(name="incident-42")
    assert _error(exc) == "name_taken"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_create(name="Bad Name!")
    assert _error(exc) == "invalid_name_specials"
    joined = client.conversations_join(channel=created["id"])
    assert joined["warning"] == "already_in_channel"
    for text in ("one", "two", "three"):
        client.chat_postMessage(channel=created["id"], text=text)
    page = client.conversations_history(channel=created["id"], limit=2)
    assert [m["text"] for m in page["messages"]] == ["three", "two"]
    assert page["has_more"] is True
    info = client.conversations_info(channel=created["id"])["channel"]
    assert info["name"] == "incident-42"


def test_history_needs_membership() -> None:
    from bot.localslack import DemoChannel

    lonely = DemoChannel(id="C0LONELY00", name="lonely", bot_is_member=False)
    with LocalSlack(signing_secret="s", channels=[lonely]) as slack:
        web = WebClient(token=TOKEN, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as exc:
            web.conversations_history(channel="C0LONELY00")
        assert _error(exc) == "not_in_channel"
        web.conversations_join(channel="C0LONELY00")
        assert web.conversations_history(channel="C0LONELY00")["messages"] == []


def test_users_and_groups(client: WebClient) -> None:
    user = client.users_info(user=BEN)["user"]
    assert user["name"] == "ben"
    assert "approver" in user["profile"]["title"]
    members = client.users_list()["members"]
    assert {m["id"] for m in members} >= {BEN, "U0BOTLOCAL"}
    assert client.usergroups_users_list(usergroup="S0LOCAL01")["users"] == [BEN, "U0LOCAL03"]
    with pytest.raises(SlackApiError) as exc:
        client.usergroups_users_list(usergroup="S0NOPE0000")
    assert _error(exc) == "no_such_subteam"
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOBODY00")
    assert _error(exc) == "user_not_found"


def test_reactions_add_once(slack: LocalSlack, client: WebClient) -> None:
    ts = slack.send_message(BEN, "ops", "deploy done")
    client.reactions_add(channel="C0LOCALOPS", timestamp=ts, name="white_check_mark")
    with pytest.raises(SlackApiError) as exc:
        client.reactions_add(channel="C0LOCALOPS", timestamp=ts, name="white_check_mark")
    assert _error(exc) == "already_reacted"
    stored = slack.messages("ops")[-1]
    assert stored["reactions"] == [
        {"name": "white_check_mark", "users": [slack.bot_user_id], "count": 1}
    ]


def test_views_publish_sets_home(slack: LocalSlack, client: WebClient) -> None:
    view = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    published = client.views_publish(user_id=BEN, view=view)["view"]
    assert published["id"].startswith("V")
    assert published["type"] == "home"
    home = slack.home_for(BEN)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "hi"
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id=BEN, view={"type": "modal", "blocks": []})
    assert _error(exc) == "invalid_arguments"


def test_views_open_needs_a_valid_trigger(client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id="123.456.abc", view=modal)
    assert _error(exc) == "invalid_arguments"
    assert exc.value.response["response_metadata"]["messages"] == ["invalid `trigger_id`"]


def test_files_upload_v2_shares_in_channel(slack: LocalSlack, client: WebClient) -> None:
    result = client.files_upload_v2(
        channel="C0LOCALOPS", content="line 1\n", filename="report.txt", initial_comment="report"
    )
    assert result["file"]["name"] == "report.txt"
    stored = slack.find_message("ops", text="report")
    assert stored is not None
    assert stored["files"][0]["size"] == len("line 1\n")


def test_form_and_query_bodies_are_accepted(slack: LocalSlack) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    form = httpx.post(
        slack.api_url + "chat.postMessage",
        data={"channel": "C0LOCALOPS", "text": "form", "blocks": json.dumps([{"type": "divider"}])},
        headers=auth,
    ).json()
    assert form["ok"] is True
    assert form["message"]["blocks"][0]["type"] == "divider"
    query = httpx.get(slack.api_url + "conversations.info?channel=C0LOCALOPS", headers=auth).json()
    assert query["channel"]["name"] == "ops"
    with_token_param = httpx.post(slack.api_url + "auth.test", data={"token": TOKEN}).json()
    assert with_token_param["ok"] is True


def test_unknown_body_type_is_invalid_post_type(slack: LocalSlack) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    xml = httpx.post(
        slack.api_url + "auth.test", content=b"<x/>", headers={**auth, "Content-Type": "text/xml"}
    )
    assert xml.json() == {"ok": False, "error": "invalid_post_type"}
    broken = httpx.post(
        slack.api_url + "auth.test",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.json() == {"ok": False, "error": "invalid_json"}


def test_rate_limit_is_retried_by_the_sdk(slack: LocalSlack) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=0)
    retrying = WebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    result = retrying.chat_postMessage(channel="C0LOCALOPS", text="once")
    assert result["ok"] is True
    assert len(slack.calls("chat.postMessage")) == 2
    assert [m["text"] for m in slack.messages("ops")] == ["once"]


def test_rate_limit_answer_is_429_with_retry_after(slack: LocalSlack, client: WebClient) -> None:
    slack.rate_limit_next("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user=BEN)
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] in ("7", ["7"])
    assert _error(exc) == "ratelimited"
    assert client.users_info(user=BEN)["ok"] is True


def test_calls_are_recorded_without_the_token(slack: LocalSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C0LOCALOPS", text="x", unfurl_links=False)
    [call] = slack.calls("chat.postMessage")
    assert call.params["unfurl_links"] is False
    assert "token" not in call.params
    assert [c.method for c in slack.calls()] == ["chat.postMessage"]
