"""The twin's tables (SQLAlchemy Core, on the shared :data:`twin.db.metadata`).

``twin_entity`` holds each entity's *effective* view, merged from the per-source views in
``twin_observation`` by source priority; ``twin_relation`` the edges; ``twin_change`` the change
log that other processes replay; ``twin_meta`` the lineage and the serial.

The Alembic revisions under ``twin/migrations/versions`` spell these tables out again on purpose:
a revision is a frozen picture of the schema at one moment and must not follow later edits here.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table, Text

from twin.db import metadata

__all__ = ["change_log", "entity_table", "observation_table", "relation_table", "twin_meta"]

twin_meta = Table(
    "twin_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lineage", String(64), nullable=False),
    Column("serial", Integer, nullable=False),
)

entity_table = Table(
    "twin_entity",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("name", String(255), nullable=False, index=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("source_ref", String(255), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
)

observation_table = Table(
    "twin_observation",
    metadata,
    Column("entity_id", String(255), primary_key=True),
    Column("source", String(64), primary_key=True, index=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("source_ref", String(255), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

relation_table = Table(
    "twin_relation",
    metadata,
    Column("src", String(255), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("dst", String(255), primary_key=True, index=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False, index=True),
)

change_log = Table(
    "twin_change",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serial", Integer, nullable=False, index=True),
    Column("changeset_id", String(64), nullable=False),
    Column("key", String(600), nullable=False),
    Column("op", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("actor", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
