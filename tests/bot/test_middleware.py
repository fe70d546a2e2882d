"""De-duplication keys: claimed once across connections, pruned after their window."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, select

from bot.tables import KEEP_SEEN, claim_key, prune_seen, seen_events
from twin.model import utcnow


def test_a_key_is_claimed_by_exactly_one_of_many_racers(engine: Engine) -> None:
    wins: list[bool] = []
    threads = [
        threading.Thread(target=lambda: wins.append(claim_key(engine, "Ev0RACE"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_prune_forgets_old_keys_but_keeps_digest_leases(engine: Engine) -> None:
    for key in ("Ev0OLD", "sig:old", "digest:2026-01-01", "Ev0NEW"):
        assert claim_key(engine, key)
    later = utcnow() + KEEP_SEEN + timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(
            seen_events.update().where(seen_events.c.event_id == "Ev0NEW").values(at=later)
        )
    assert prune_seen(engine, later) == 2
    with engine.connect() as conn:
        left = sorted(r[0] for r in conn.execute(select(seen_events.c.event_id)))
    assert left == ["Ev0NEW", "digest:2026-01-01"]


def test_replay_check_finds_the_thread_of_every_conversation_event() -> None:
    from bot.listeners.middleware import replayed_thread

    def body(**event: str) -> dict[str, object]:
        return {"type": "event_callback", "event_id": "Ev1", "event": event}

    mention = body(type="app_mention", channel="C1", ts="1.0")
    assert replayed_thread(mention) == ("C1", "1.0")
    reply = body(type="app_mention", channel="C1", ts="2.0", thread_ts="1.0")
    assert replayed_thread(reply) == ("C1", "1.0")
    assert replayed_thread(body(type="message", channel="D1", channel_type="im", ts="3.0")) == (
        "D1",
        "3.0",
    )
    follow_up = body(
        type="message", channel="C1", channel_type="channel", ts="4.0", thread_ts="1.0"
    )
    assert replayed_thread(follow_up) == ("C1", "1.0")
    # Top-level channel chatter is never answered; other events are not conversations.
    assert (
        replayed_thread(body(type="message", channel="C1", channel_type="channel", ts="5.0"))
        is None
    )
    assert replayed_thread(body(type="reaction_added", channel="C1", ts="6.0")) is None
    assert replayed_thread({"type": "block_actions", "actions": []}) is None
