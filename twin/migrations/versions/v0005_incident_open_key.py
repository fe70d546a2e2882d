"""agent_incident.open_key: a unique open slot per dedupe key, so replicas open one incident.

The slot is the dedupe key while an incident is its key's current one and NULL once it is
resolved or superseded. Existing rows get it from the same rule the grouping code already
applies (it only ever looks at the newest incident of a key): the newest incident of each key
takes the slot if it is not resolved. Older incidents that are still open (a duplicate from the
race this revision closes, or one superseded after the group window) are left as they are, with
no slot, so no row is rewritten and duplicates cannot make the unique index fail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_agent_incident_open_key"


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` from newer metadata and may
    # already have the column and its index.
    inspector = sa.inspect(op.get_bind())
    if "open_key" not in {c["name"] for c in inspector.get_columns("agent_incident")}:
        op.add_column("agent_incident", sa.Column("open_key", sa.String(length=255)))
        inc = sa.table(
            "agent_incident",
            sa.column("id", sa.Integer),
            sa.column("dedupe_key", sa.String),
            sa.column("status", sa.String),
            sa.column("open_key", sa.String),
        )
        newer = inc.alias("newer")
        # Correlated: is there a newer incident of the same key? (Portable to both databases.)
        superseded = sa.exists().where(
            newer.c.dedupe_key == inc.c.dedupe_key, newer.c.id > inc.c.id
        )
        op.execute(
            inc.update()
            .where(inc.c.status != "resolved", ~superseded)
            .values(open_key=inc.c.dedupe_key)
        )
    if _INDEX not in {i["name"] for i in inspector.get_indexes("agent_incident")}:
        op.create_index(_INDEX, "agent_incident", ["open_key"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(_INDEX, table_name="agent_incident")
    with op.batch_alter_table("agent_incident") as batch_op:
        batch_op.drop_column("open_key")
