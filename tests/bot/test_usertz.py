"""Each reader's zone from ``users.info``: the local workspace answers as Slack does, the zone
is cached per user for its TTL, and anything unknown falls back to the display zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient

from bot.localslack import DEFAULT_USERS, DemoUser, LocalSlack
from bot.localslack.directory import zone_fields
from bot.usertz import UserZones, valid_zone

TOKEN = "xoxb-usertz-0001"


@pytest.fixture
def slack() -> Iterator[LocalSlack]:
    odd = DemoUser(id="U0ODDZONE1", name="odd", real_name="Odd Zone", tz="Mars/Olympus_Mons")
    s = LocalSlack(signing_secret="s" * 16, bot_token=TOKEN, users=(*DEFAULT_USERS, odd))
    s.start()
    try:
        yield s
    finally:
        s.stop()


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_users_info_carries_tz_label_and_offset_as_slack_does(slack: LocalSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    user = client.users_info(user="U0LOCAL01")["user"]
    assert user["tz"] == "America/New_York"
    assert user["tz_label"] in ("Eastern Standard Time", "Eastern Daylight Time")
    assert user["tz_offset"] in (-18000, -14400)
    winter = zone_fields("America/New_York", datetime(2026, 1, 5, tzinfo=UTC))
    assert winter == {
        "tz": "America/New_York",
        "tz_label": "Eastern Standard Time",
        "tz_offset": -18000,
    }
    summer = zone_fields("Europe/London", datetime(2026, 7, 5, tzinfo=UTC))
    assert summer["tz_label"] == "British Summer Time" and summer["tz_offset"] == 3600


def test_zone_is_cached_per_user_until_its_ttl(
    slack: LocalSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    calls: list[str] = []
    real = client.users_info

    def counted(**kw: str) -> object:
        calls.append(kw["user"])
        return real(**kw)

    monkeypatch.setattr(client, "users_info", counted)
    clock = Clock()
    zones = UserZones(client, "Europe/London", ttl=60, clock=clock)
    assert zones.of("U0LOCAL01") == "America/New_York"
    assert zones.of("U0LOCAL03") == "Europe/Paris"
    assert zones.of("U0LOCAL01") == "America/New_York"
    assert calls == ["U0LOCAL01", "U0LOCAL03"]
    clock.t = 61
    zones.of("U0LOCAL01")
    assert calls == ["U0LOCAL01", "U0LOCAL03", "U0LOCAL01"]


def test_unknown_people_and_zones_fall_back_to_the_display_zone(slack: LocalSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    zones = UserZones(client, "Asia/Tokyo")
    assert zones.of("U0NOSUCH01") == "Asia/Tokyo"  # users.info: user_not_found
    assert zones.of("U0ODDZONE1") == "Asia/Tokyo"  # a zone this host does not know
    assert zones.of("") == "Asia/Tokyo"
    assert UserZones(client, "Not/AZone").default == "UTC"
    assert valid_zone("Europe/Paris") == "Europe/Paris" and valid_zone(3) is None
