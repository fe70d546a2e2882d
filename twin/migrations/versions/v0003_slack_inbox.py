"""slack_inbox: Slack events stored before they are acknowledged (HTTP mode), with a lease.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` and may already have the
    # table (made from newer metadata); creating it again would fail the adoption.
    if "slack_inbox" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "slack_inbox",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_inbox")),
    )
    op.create_index(
        "ix_slack_inbox_state_lease_until", "slack_inbox", ["state", "lease_until"], unique=False
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_slack_inbox_state_lease_until", table_name="slack_inbox")
    op.drop_table("slack_inbox")
