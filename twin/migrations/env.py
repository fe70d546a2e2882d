"""Alembic environment: runs on the connection and metadata that :func:`twin.db.migrate` passes.

The twin cannot import the packages above it, so it cannot know every table itself; whoever
composes the application imports its modules (which register their tables on
:data:`twin.db.metadata`) and hands that metadata over. Autogenerate compares against it; the
revisions themselves never import application code.
"""

from __future__ import annotations

from alembic import context

from twin.db import VERSION_TABLE

config = context.config
connection = config.attributes["connection"]
target_metadata = config.attributes.get("target_metadata")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    version_table=VERSION_TABLE,
    # SQLite can only ALTER by copying a table; batch mode does that where needed.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
