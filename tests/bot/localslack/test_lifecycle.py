"""Starting, stopping and configuring LocalSlack."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk import WebClient

from bot.localslack import (
    DEFAULT_CHANNELS,
    DEFAULT_USERS,
    DemoChannel,
    DemoUser,
    DemoUserGroup,
    LocalSlack,
)
from tests.bot.localslack.conftest import SECRET, TOKEN


def test_two_instances_get_their_own_free_ports() -> None:
    with LocalSlack(signing_secret=SECRET) as one, LocalSlack(signing_secret=SECRET) as two:
        assert one.api_url != two.api_url
        assert one.api_url.endswith("/api/")
        assert WebClient(token=TOKEN, base_url=one.api_url).auth_test()["ok"] is True


def test_stop_releases_the_port_and_start_again_works() -> None:
    slack = LocalSlack(signing_secret=SECRET)
    slack.start()
    url = slack.api_url
    with pytest.raises(RuntimeError):
        slack.start()
    slack.stop()
    slack.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "api.test")
    slack.start()
    try:
        assert httpx.post(slack.api_url + "api.test").json() == {"ok": True}
    finally:
        slack.stop()


def test_urls_before_start_are_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = LocalSlack(signing_secret=SECRET).api_url


def test_directory_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="duplicate user"):
        LocalSlack(signing_secret=SECRET, users=[DEFAULT_USERS[0], DEFAULT_USERS[0]])
    stranger = DemoChannel(id="C0STRANGE0", name="strange", members=("U0NOBODY00",))
    with pytest.raises(ValueError, match="unknown users"):
        LocalSlack(signing_secret=SECRET, channels=[stranger])
    with pytest.raises(ValueError):
        DemoUser(id="not-an-id", name="x", real_name="X")
    ghosts = DemoUserGroup(id="S0GHOSTS00", handle="ghosts", name="Ghosts", users=("U0NOBODY00",))
    with pytest.raises(ValueError, match="@ghosts"):
        LocalSlack(signing_secret=SECRET, usergroups=[ghosts])
    with pytest.raises(ValueError):
        LocalSlack(signing_secret="")
    with pytest.raises(ValueError, match="app_mentions"):
        LocalSlack(signing_secret=SECRET, events={"app_mentions"})


def test_defaults_hold_the_demo_roles_and_channels() -> None:
    titles = " ".join(u.title for u in DEFAULT_USERS).lower()
    assert "on-call" in titles
    assert titles.count("approver") == 2
    assert "manager" in titles
    assert {c.name for c in DEFAULT_CHANNELS} == {"ops", "ops-approvals", "ops-digest"}
    with LocalSlack(signing_secret=SECRET) as slack:
        assert slack.channel_id("#ops") == "C0LOCALOPS"
        assert slack.user_id("@ben") == "U0LOCAL02"
        with pytest.raises(ValueError, match="no channel"):
            slack.channel_id("random")
