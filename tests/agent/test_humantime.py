"""Times and ages in words: cards, threads and answers read "in 3 h", not ISO stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from agent.humantime import age_text, expires_text, relative, span, when_text

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # a Thursday
NY = "America/New_York"


def test_when_text_reads_weekday_time_zone_and_distance() -> None:
    sat = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # Sat 22:00 in New York
    assert when_text(sat - timedelta(days=1), now=NOW, tz=NY) == "Fri 22:00 EST, in 2 days"
    assert when_text(NOW + timedelta(hours=3), now=NOW) == "Thu 18:00 UTC, in 3 h"
    assert when_text(NOW - timedelta(minutes=5), now=NOW) == "Thu 14:55 UTC, 5 min ago"
    assert when_text(NOW, now=NOW) == "Thu 15:00 UTC, now"
    # a week or more away: the weekday alone is ambiguous, so the date is added
    assert when_text(NOW + timedelta(days=9), now=NOW) == "Sat 12 Dec 15:00 UTC, in 9 days"


def test_span_rounds_to_one_unit() -> None:
    assert span(timedelta(seconds=20)) == "1 min"
    assert span(timedelta(minutes=42)) == "42 min"
    assert span(timedelta(hours=3, minutes=10)) == "3 h"
    assert span(timedelta(hours=30)) == "30 h"
    assert span(timedelta(days=1, hours=20)) == "2 days"
    assert span(timedelta(days=1, hours=12)) == "2 days"
    assert span(timedelta(days=60)) == "2 months"
    assert span(timedelta(days=335)) == "11 months"
    assert span(timedelta(days=800)) == "2 years"
    assert span(timedelta(days=-3)) == "3 days"


def test_expiry_and_age() -> None:
    assert expires_text(NOW + timedelta(hours=3), now=NOW) == "expires in 3 h"
    assert expires_text(NOW + timedelta(seconds=30), now=NOW) == "expires in 1 min"
    assert expires_text(NOW - timedelta(hours=2), now=NOW) == "expired 2 h ago"
    assert expires_text(NOW, now=NOW) == "expired just now"
    assert age_text(timedelta(days=335)) == "11 months old"
    assert age_text(timedelta(days=1)) == "24 h old"
    assert age_text(timedelta(seconds=10)) == "new"


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_relative_says_the_direction_and_never_an_iso_stamp(secs: int) -> None:
    said = relative(NOW + timedelta(seconds=secs), now=NOW)
    if abs(secs) < 60:
        assert said == "now"
    elif secs > 0:
        assert said.startswith("in ") and not said.endswith("ago")
    else:
        assert said.endswith(" ago") and not said.startswith("in ")
    assert "T" not in said and ":" not in said
