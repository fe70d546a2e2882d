"""journal_change.request_key: what asked for a change, so a replayed request finds it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` from newer metadata and may
    # already have the column and its index.
    inspector = sa.inspect(op.get_bind())
    if "request_key" not in {c["name"] for c in inspector.get_columns("journal_change")}:
        op.add_column(
            "journal_change", sa.Column("request_key", sa.String(length=160), nullable=True)
        )
    if "ix_journal_change_request_key" not in {
        i["name"] for i in inspector.get_indexes("journal_change")
    }:
        op.create_index(
            "ix_journal_change_request_key", "journal_change", ["request_key"], unique=True
        )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_journal_change_request_key", table_name="journal_change")
    op.drop_column("journal_change", "request_key")
