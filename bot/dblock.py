"""A lock shared by every process using one database, for start-up work that must not race.

Several replicas starting on an empty database would otherwise migrate and seed at once: two
``CREATE TABLE`` for one table, or the sample estate loaded twice. :func:`database_lock`
serialises such work.

- PostgreSQL: a session-level ``pg_advisory_lock`` on a dedicated connection, keyed by the lock
  name and the current schema (so test schemas in one database do not queue behind each other).
  The server releases it if the holder dies, so a crashed replica never wedges the others.
- SQLite: an exclusive ``flock`` on a file next to the database. A ``BEGIN IMMEDIATE`` on a
  dedicated connection would also exclude this process's own connections, so the migration
  it guards could never run; every process sharing a SQLite file is on one host anyway.
  An in-memory database is private to its process, so there is nothing to lock.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["LOCK_NAMESPACE", "database_lock"]

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x0B5A
"""First key of opshand's two-key advisory locks, to stay clear of other applications' keys."""


@contextmanager
def database_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the database-wide lock ``name`` for the ``with`` block; waits while another has it.

    Args:
        engine: the shared database (PostgreSQL or SQLite).
        name: what the lock guards, e.g. ``"bootstrap"``.

    Raises:
        ValueError: for a database that is neither PostgreSQL nor SQLite.
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _pg_lock(engine, name):
            yield
    elif dialect == "sqlite":
        with _file_lock(engine, name):
            yield
    else:
        raise ValueError(f"database_lock supports PostgreSQL and SQLite, not {dialect!r}")


@contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[None]:
    args = {"ns": LOCK_NAMESPACE, "key": zlib.crc32(name.encode()) & 0x7FFFFFFF}
    # XOR with hashtext(current_schema()) mixes the schema in; both are int4, so is the result
    key_sql = "(:key # hashtext(current_schema()))::int"
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_advisory_lock(:ns, {key_sql})"), args)
        # Session-level lock: it outlives this commit, and the connection stays idle, not
        # idle in a transaction, while the guarded work runs on other connections.
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock(:ns, {key_sql})"), args)
            conn.commit()


@contextmanager
def _file_lock(engine: Engine, name: str) -> Iterator[None]:
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file::memory:"):
        yield
        return
    path = Path(db).with_name(f"{Path(db).name}.{name}.lock")
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
