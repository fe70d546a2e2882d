"""Answers say ages and human times, not ISO stamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.chat.offline.compose import compose_answer
from agent.chat.offline.types import ToolCall, ToolOutcome

NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


def _out(tool: str, data: dict[str, Any], **args: Any) -> ToolOutcome:
    return ToolOutcome.from_result(
        ToolCall(name=tool, args=args), {"status": "success", "data": data, "error": None}
    )


def test_last_seen_and_stale_facts_read_as_ages() -> None:
    show = _out(
        "twin_show",
        {"entity": {"name": "web-01", "kind": "host", "last_seen": "2026-12-03T16:55:00+00:00"}},
    )
    assert "Last seen 5 min ago." in compose_answer([show], "", now=NOW)
    stale = _out(
        "twin_stale",
        {"items": [{"name": "db-01", "last_seen": "2026-01-04T10:00:00Z"}], "total": 1},
    )
    text = compose_answer([stale], "", now=NOW)
    assert "seen 11 months ago" in text and "2026-" not in text


def test_patch_and_backup_ages() -> None:
    facts = {
        "entity": {"name": "web-01", "kind": "host"},
        "aspect": "patch",
        "patch": {"last_patched": "2026-11-30T17:00:00+00:00"},
    }
    text = compose_answer([_out("twin_show", facts, aspect="patch")], "", now=NOW)
    assert text.startswith("web-01 was last patched 3 days ago."), text
    health = {
        "entity": {"name": "web-01", "kind": "host"},
        "aspect": "health",
        "health": {"backups": [{"last_result": "success", "last_success": "2026-12-03T15:00Z"}]},
    }
    text = compose_answer([_out("twin_show", health, aspect="health")], "", now=NOW)
    assert "Last good backup 2 h ago." in text, text


def test_scheduled_changes_say_the_day_time_and_how_far() -> None:
    data = {
        "items": [
            {
                "change_id": "CR-4",
                "action": "patch.apply",
                "state": "scheduled",
                "not_before": "2026-12-05T22:00:00+00:00",
            }
        ],
        "period": "this_week",
    }
    text = compose_answer([_out("scheduled_changes", data)], "", now=NOW)
    assert "CR-4 (patch.apply) at Sat 22:00 UTC, in 2 days" in text


def test_without_a_clock_a_time_is_a_short_date() -> None:
    show = _out("twin_show", {"entity": {"name": "w", "kind": "host", "last_seen": "2026-01-04"}})
    assert "Last seen on Sun 4 Jan 2026." in compose_answer([show], "")


def test_several_worries_are_bullets_not_glued() -> None:
    health = {
        "entity": {"name": "web-01", "kind": "host"},
        "aspect": "health",
        "health": {"pending_reboot": True, "status": "degraded"},
    }
    text = compose_answer([_out("twin_show", health, aspect="health")], "", now=NOW)
    assert text.startswith("web-01 needs a look:\n• it is waiting for a reboot\n• its status")
    assert "; " not in text
