"""slack_job: run-once jobs (the daily digest) as an expiring lease plus a done marker.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` and may already have the
    # table (made from newer metadata); creating it again would fail the adoption.
    if "slack_job" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "slack_job",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_slack_job")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("slack_job")
