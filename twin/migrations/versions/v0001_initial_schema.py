"""Initial schema: every table opshand had when migrations began.

Generated once by autogenerate against the full metadata (twin, agent, bot), then committed; it
must not change. This is also the baseline a database made by ``create_all`` is stamped at.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "agent_autonomy",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_autonomy")),
    )
    with op.batch_alter_table("agent_autonomy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_autonomy_at"), ["at"], unique=False)

    op.create_table(
        "agent_flag",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_agent_flag")),
    )
    op.create_table(
        "agent_incident",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=255), nullable=True),
        sa.Column("runbook_id", sa.String(length=128), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=True),
        sa.Column("ticket_number", sa.String(length=64), nullable=True),
        sa.Column("thread_channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("flaps", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.String(length=128), nullable=False),
        sa.Column("suspected_cause", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_incident")),
    )
    with op.batch_alter_table("agent_incident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_incident_dedupe_key"), ["dedupe_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agent_incident_fingerprint"), ["fingerprint"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agent_incident_status"), ["status"], unique=False)

    op.create_table(
        "agent_memory",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("thread", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_memory")),
    )
    with op.batch_alter_table("agent_memory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_memory_thread"), ["thread"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=True),
        sa.Column("plan_hash", sa.String(length=128), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_change_id"), ["change_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_kind"), ["kind"], unique=False)

    op.create_table(
        "consent_request",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=False),
        sa.Column("requester_team", sa.String(length=64), nullable=False),
        sa.Column("requester_user", sa.String(length=64), nullable=False),
        sa.Column("approvers", sa.String(length=128), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("policy_hash", sa.String(length=128), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=160), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_request")),
    )
    with op.batch_alter_table("consent_request", schema=None) as batch_op:
        batch_op.create_index("ix_consent_request_change_id", ["change_id"], unique=False)
        batch_op.create_index(
            "uq_consent_request_open_change",
            ["change_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    op.create_table(
        "journal_call",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_call")),
    )
    with op.batch_alter_table("journal_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_call_change_id"), ["change_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_call_idempotency_key"), ["idempotency_key"], unique=False
        )

    op.create_table(
        "journal_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("plan_hash", sa.String(length=64), nullable=True),
        sa.Column("policy_hash", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_change")),
    )
    with op.batch_alter_table("journal_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_change_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_change_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "journal_target",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_target")),
        sa.UniqueConstraint("change_id", "target", name="uq_journal_target_change_target"),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_target_idempotency_key")),
    )
    with op.batch_alter_table("journal_target", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_target_change_id"), ["change_id"], unique=False
        )

    op.create_table(
        "slack_card",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_card")),
    )
    with op.batch_alter_table("slack_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_card_change_id"), ["change_id"], unique=False)

    op.create_table(
        "slack_event",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_event")),
    )
    op.create_table(
        "twin_change",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("changeset_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twin_change")),
    )
    with op.batch_alter_table("twin_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_change_serial"), ["serial"], unique=False)

    op.create_table(
        "twin_entity",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_ref", sa.String(length=255), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twin_entity")),
    )
    with op.batch_alter_table("twin_entity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_entity_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_twin_entity_name"), ["name"], unique=False)

    op.create_table(
        "twin_meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lineage", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twin_meta")),
    )
    op.create_table(
        "twin_observation",
        sa.Column("entity_id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("source_ref", sa.String(length=255), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", "source", name=op.f("pk_twin_observation")),
    )
    with op.batch_alter_table("twin_observation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_observation_source"), ["source"], unique=False)

    op.create_table(
        "twin_relation",
        sa.Column("src", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("dst", sa.String(length=255), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("src", "type", "dst", name=op.f("pk_twin_relation")),
    )
    with op.batch_alter_table("twin_relation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_twin_relation_dst"), ["dst"], unique=False)
        batch_op.create_index(batch_op.f("ix_twin_relation_source"), ["source"], unique=False)

    op.create_table(
        "consent_vote",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("voter_team", sa.String(length=64), nullable=False),
        sa.Column("voter_user", sa.String(length=64), nullable=False),
        sa.Column("vote", sa.String(length=8), nullable=False),
        sa.Column("plan_hash", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["consent_request.id"],
            name=op.f("fk_consent_vote_request_id_consent_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_vote")),
        sa.UniqueConstraint("payload_id", name="uq_consent_vote_payload_id"),
        sa.UniqueConstraint("request_id", "voter_team", "voter_user", name="uq_consent_vote_voter"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("consent_vote")
    with op.batch_alter_table("twin_relation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_relation_source"))
        batch_op.drop_index(batch_op.f("ix_twin_relation_dst"))

    op.drop_table("twin_relation")
    with op.batch_alter_table("twin_observation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_observation_source"))

    op.drop_table("twin_observation")
    op.drop_table("twin_meta")
    with op.batch_alter_table("twin_entity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_entity_name"))
        batch_op.drop_index(batch_op.f("ix_twin_entity_kind"))

    op.drop_table("twin_entity")
    with op.batch_alter_table("twin_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twin_change_serial"))

    op.drop_table("twin_change")
    op.drop_table("slack_event")
    with op.batch_alter_table("slack_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_card_change_id"))

    op.drop_table("slack_card")
    with op.batch_alter_table("journal_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_target_change_id"))

    op.drop_table("journal_target")
    with op.batch_alter_table("journal_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_change_updated_at"))
        batch_op.drop_index(batch_op.f("ix_journal_change_state"))

    op.drop_table("journal_change")
    with op.batch_alter_table("journal_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_call_idempotency_key"))
        batch_op.drop_index(batch_op.f("ix_journal_call_change_id"))

    op.drop_table("journal_call")
    with op.batch_alter_table("consent_request", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_consent_request_open_change",
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )
        batch_op.drop_index("ix_consent_request_change_id")

    op.drop_table("consent_request")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_kind"))
        batch_op.drop_index(batch_op.f("ix_audit_log_change_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    with op.batch_alter_table("agent_memory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_memory_thread"))

    op.drop_table("agent_memory")
    with op.batch_alter_table("agent_incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_incident_status"))
        batch_op.drop_index(batch_op.f("ix_agent_incident_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_agent_incident_dedupe_key"))

    op.drop_table("agent_incident")
    op.drop_table("agent_flag")
    with op.batch_alter_table("agent_autonomy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_autonomy_at"))

    op.drop_table("agent_autonomy")
