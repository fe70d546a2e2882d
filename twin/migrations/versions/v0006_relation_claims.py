"""twin_relation_claim: every source's claim of a relation, with first/last seen and confidence.

Existing edges get one claim each from the source the edge row names, first and last seen at
the time of the upgrade (the edge table never kept them), so no edge loses its only claim.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEARNED = ("telemetry",)
_DECLARED = ("sample", "catalog")


def upgrade() -> None:
    """Apply this revision."""
    # A database adopted at the baseline was made by ``create_all`` from newer metadata and may
    # already have the table.
    if "twin_relation_claim" in sa.inspect(op.get_bind()).get_table_names():
        return
    claims = op.create_table(
        "twin_relation_claim",
        sa.Column("src", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("dst", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "src", "type", "dst", "source", name=op.f("pk_twin_relation_claim")
        ),
    )
    op.create_index("ix_twin_relation_claim_dst", "twin_relation_claim", ["dst"], unique=False)
    op.create_index(
        "ix_twin_relation_claim_source", "twin_relation_claim", ["source"], unique=False
    )
    op.create_index(
        "ix_twin_relation_claim_last_seen", "twin_relation_claim", ["last_seen"], unique=False
    )
    rel = sa.table(
        "twin_relation",
        sa.column("src", sa.String),
        sa.column("type", sa.String),
        sa.column("dst", sa.String),
        sa.column("source", sa.String),
    )
    now = datetime.now(UTC)
    rows = [
        {
            "src": r.src,
            "type": r.type,
            "dst": r.dst,
            "source": r.source,
            "kind": "learned"
            if r.source in _LEARNED
            else "declared"
            if r.source in _DECLARED
            else "inventory",
            "first_seen": now,
            "last_seen": now,
            "confidence": 0.6 if r.source in _LEARNED else 1.0 if r.source in _DECLARED else 0.9,
            "attrs": {},
        }
        for r in op.get_bind().execute(sa.select(rel))
    ]
    if rows:
        op.bulk_insert(claims, rows)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_twin_relation_claim_last_seen", table_name="twin_relation_claim")
    op.drop_index("ix_twin_relation_claim_source", table_name="twin_relation_claim")
    op.drop_index("ix_twin_relation_claim_dst", table_name="twin_relation_claim")
    op.drop_table("twin_relation_claim")
