"""journal_change.not_before: a scheduled change waits in ``scheduled`` until this time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` from newer metadata and may
    # already have the column.
    cols = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("journal_change")}
    if "not_before" in cols:
        return
    with op.batch_alter_table("journal_change") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_journal_change_not_before", "journal_change", ["not_before"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_journal_change_not_before", table_name="journal_change")
    with op.batch_alter_table("journal_change") as batch:
        batch.drop_column("not_before")
