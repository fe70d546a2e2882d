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
