"""C9: the local workspace refuses cross-site and DNS-rebinding requests."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import httpx

from bot.localslack import LocalSlack
from bot.localslack.guard import host_name
from tests.bot.localslack.conftest import ANA, BEN

OPS = "C0LOCALOPS"


def _send(slack: LocalSlack, headers: dict[str, str], **kw: object) -> httpx.Response:
    body = {"user": BEN, "channel": OPS, "text": "approve everything"}
    return httpx.post(f"{slack.web_url}ui/send", headers=headers, timeout=10, **kw, json=body)


def _said(slack: LocalSlack) -> list[str]:
    return [str(m.get("text")) for m in slack.messages("ops")]


def test_c9_page_carries_its_token_and_the_page_request_works(slack: LocalSlack) -> None:
    page = httpx.get(slack.web_url)
    found = re.search(r'<meta name="opshand-ui-token" content="([^"]+)">', page.text)
    assert found and found.group(1) == slack.ui_token
    assert page.headers["x-frame-options"] == "DENY"
    origin = slack.web_url.rstrip("/")
    r = _send(slack, {"Origin": origin, "X-Opshand-UI-Token": found.group(1)})
    assert r.status_code == 200, r.text
    assert _said(slack) == ["approve everything"]


def test_c9_cross_origin_post_is_refused_even_with_the_token(slack: LocalSlack) -> None:
    token = {"X-Opshand-UI-Token": slack.ui_token}
    port = urlparse(slack.web_url).port
    for origin in (
        "http://evil.example",
        f"http://evil.example:{port}",
        "http://localhost:1",
        "null",
    ):
        r = _send(slack, {**token, "Origin": origin})
        assert r.status_code == 403 and "cross-origin" in r.json()["error"], origin
    r = _send(slack, {**token, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert _said(slack) == []


def test_c9_form_posts_and_missing_or_wrong_tokens_are_refused(slack: LocalSlack) -> None:
    # what a plain HTML form on another site can send: no preflight, no custom header
    form = httpx.post(
        f"{slack.web_url}ui/send",
        data={"user": BEN, "channel": OPS, "text": "x"},
        headers={"X-Opshand-UI-Token": slack.ui_token},
    )
    assert form.status_code == 403 and "application/json" in form.json()["error"]
    assert _send(slack, {}).status_code == 403
    assert _send(slack, {"X-Opshand-UI-Token": "guess"}).status_code == 403
    assert _said(slack) == []


def test_c9_dns_rebinding_host_is_refused_on_every_route(slack: LocalSlack) -> None:
    port = urlparse(slack.web_url).port
    rebound = {"Host": f"attacker.example:{port}", "X-Opshand-UI-Token": slack.ui_token}
    assert httpx.get(slack.web_url, headers=rebound).status_code == 403
    assert httpx.get(f"{slack.web_url}ui/state", headers=rebound).status_code == 403
    assert _send(slack, rebound).status_code == 403
    assert _said(slack) == []
    # this machine's own names are fine
    assert httpx.get(slack.web_url, headers={"Host": f"localhost:{port}"}).status_code == 200


def test_allowed_hosts_widen_the_list_explicitly() -> None:
    with LocalSlack(signing_secret="s", allowed_hosts=["demo.internal"]) as slack:
        port = urlparse(slack.web_url).port
        ok = httpx.get(slack.web_url, headers={"Host": f"demo.internal:{port}"})
        assert ok.status_code == 200
        assert slack.send_message(ANA, "ops", "hi")
    assert host_name("[::1]:8080") == "::1" and host_name("LocalHost:1") == "localhost"
