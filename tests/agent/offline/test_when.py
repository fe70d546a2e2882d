"""Times in requests: "tonight", "at 02:00", "after 18:00 Friday", the next window, now (G4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.chat.offline.when import WhenError, parse_when, when_text

# Thursday 2026-12-03 08:23 in New York (13:23 UTC): the "ran at 08:23" morning
NOW = datetime(2026, 12, 3, 13, 23, tzinfo=UTC)
NY = "America/New_York"


def _local(w: object) -> str:
    nb = w.not_before
    assert nb is not None
    return nb.astimezone(__import__("zoneinfo").ZoneInfo(NY)).strftime("%a %Y-%m-%d %H:%M")


def test_tonight_is_22_00_in_the_requesters_zone_not_now() -> None:
    w = parse_when("patch contoso-ny-web-prod-01 and -02 tonight", now=NOW, tz=NY)
    assert not w.now and _local(w) == "Thu 2026-12-03 22:00" and w.phrase == "tonight"


def test_tonight_late_at_night_means_now_and_after_midnight_the_night_ahead() -> None:
    late = datetime(2026, 12, 4, 4, 30, tzinfo=UTC)  # 23:30 in New York
    assert parse_when("reboot x tonight", now=late, tz=NY).not_before == late
    small_hours = datetime(2026, 12, 4, 6, 30, tzinfo=UTC)  # 01:30 in New York
    assert parse_when("reboot x tonight", now=small_hours, tz=NY).not_before == small_hours


def test_at_a_clock_time_is_the_next_occurrence() -> None:
    assert _local(parse_when("reboot x at 02:00", now=NOW, tz=NY)) == "Fri 2026-12-04 02:00"
    assert _local(parse_when("reboot x at 9pm", now=NOW, tz=NY)) == "Thu 2026-12-03 21:00"
    assert _local(parse_when("reboot x at 8:00", now=NOW, tz=NY)) == "Fri 2026-12-04 08:00"


def test_after_a_time_on_a_day() -> None:
    w = parse_when("patch the web tier after 18:00 Friday", now=NOW, tz=NY)
    assert _local(w) == "Fri 2026-12-04 18:00"
    assert _local(parse_when("on thursday at 07:00 reboot x", now=NOW, tz=NY)) == (
        "Thu 2026-12-10 07:00"  # this Thursday's 07:00 has passed: next week's
    )
    assert _local(parse_when("reboot x tomorrow at 06:15", now=NOW, tz=NY)) == (
        "Fri 2026-12-04 06:15"
    )


def test_next_maintenance_window_and_now() -> None:
    w = parse_when("patch x in the next maintenance window", now=NOW, tz=NY)
    assert w.window and w.not_before is None and not w.now
    assert parse_when("reboot x now", now=NOW, tz=NY).now
    assert parse_when("reboot x", now=NOW, tz=NY).now


@pytest.mark.parametrize("text", ["reboot x at 25:00", "reboot x at 13pm", "reboot x at 10:75"])
def test_impossible_times_are_refused_by_name(text: str) -> None:
    with pytest.raises(WhenError, match="not a time of day"):
        parse_when(text, now=NOW, tz=NY)


def test_unknown_zone_and_naive_now_refused() -> None:
    with pytest.raises(WhenError, match="unknown time zone 'Mars/Olympus'"):
        parse_when("at 02:00", now=NOW, tz="Mars/Olympus")
    with pytest.raises(WhenError, match="timezone-aware"):
        parse_when("at 02:00", now=datetime(2026, 12, 3, 8, 0), tz=NY)


def test_card_text_in_the_readers_zone() -> None:
    sat = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # Sat 22:00 EST
    assert when_text(sat, now=NOW, tz=NY) == "Sat 22:00 EST, in 3 days"
    assert when_text(sat, now=NOW, tz="Europe/Berlin") == "Sun 04:00 CET, in 3 days"
    assert when_text(NOW, now=NOW, tz=NY).endswith(", now")
