"""The bot's own tables in one place: registering them on the metadata imports nothing else.

Slack bookkeeping only: de-duplication keys, the cards kept up to date, run-once jobs and the
durable event inbox. The agent's tables live with the code that owns them (journal, audit ...).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, Index, Integer, String, Table, Text, and_, not_
from sqlalchemy.exc import IntegrityError

from twin import metadata, utcnow

__all__ = [
    "KEEP_SEEN",
    "LEASE_PREFIX",
    "cards_table",
    "claim_key",
    "inbox_table",
    "jobs",
    "prune_seen",
    "seen_events",
]

seen_events = Table(
    "slack_event",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
"""Keys already claimed: ``Ev…`` event ids, ``sig:…`` request signatures, ``digest:…`` leases."""

KEEP_SEEN = timedelta(hours=2)
"""How long de-duplication keys are kept: longer than Slack's retry schedule (about 5 minutes)
and the signature window (5 minutes), with room to spare."""

LEASE_PREFIX = "digest:"

cards_table = Table(
    "slack_card",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", Integer, nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
)
"""Messages the bot keeps up to date: ``consent`` cards and ``incident`` thread roots."""

jobs = Table(
    "slack_job",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("result", String(128), nullable=True),
)
"""One row per run-once job (``digest:<day>``): who holds it until when, and whether it is done."""

inbox_table = Table(
    "slack_inbox",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("team_id", String(32), nullable=True),
    Column("event_type", String(64), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=False),
    Column("last_error", String(200), nullable=True),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Index("ix_slack_inbox_state_lease_until", "state", "lease_until"),
)
"""One row per Slack event received: its signature-verified body and its lease."""


def claim_key(engine: Engine, key: str) -> bool:
    """Insert ``key`` once; ``True`` for the first caller, ``False`` for every later one."""
    try:
        with engine.begin() as conn:
            conn.execute(seen_events.insert().values(event_id=key[:128], at=utcnow()))
    except IntegrityError:
        return False
    return True


def prune_seen(engine: Engine, now: datetime | None = None) -> int:
    """Forget de-duplication keys older than :data:`KEEP_SEEN` (leases are kept)."""
    cutoff = (now or utcnow()) - KEEP_SEEN
    with engine.begin() as conn:
        res = conn.execute(
            seen_events.delete().where(
                and_(
                    seen_events.c.at < cutoff,
                    not_(seen_events.c.event_id.startswith(LEASE_PREFIX)),
                )
            )
        )
    return int(res.rowcount or 0)
