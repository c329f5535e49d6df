"""dossiers and notifications; longer audit object ids

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:08:04.786514
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dossier_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_dossier_counters_agency_id_agencies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_counters")),
        sa.UniqueConstraint("agency_id", "day", name=op.f("uq_dossier_counters_agency_id_day")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_read", ["user_id", "read_at"], unique=False)

    op.create_table(
        "dossiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("procedure_code", sa.String(length=50), nullable=False),
        sa.Column("procedure_name", sa.String(length=500), nullable=False),
        sa.Column("receiving_agency_id", sa.Integer(), nullable=False),
        sa.Column("competent_agency_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("applicant", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missing_documents", sa.JSON(), nullable=False),
        sa.Column("supplement_requests", sa.Integer(), nullable=False),
        sa.Column("refusal_reason", sa.Text(), nullable=True),
        sa.Column("apology_reason", sa.Text(), nullable=True),
        sa.Column("new_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("received_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["competent_agency_id"],
            ["agencies.id"],
            name=op.f("fk_dossiers_competent_agency_id_agencies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["workflow_instances.id"],
            name=op.f("fk_dossiers_instance_id_workflow_instances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["received_by"],
            ["users.id"],
            name=op.f("fk_dossiers_received_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["receiving_agency_id"],
            ["agencies.id"],
            name=op.f("fk_dossiers_receiving_agency_id_agencies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("code", name=op.f("uq_dossiers_code")),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dossiers_agency_status", ["receiving_agency_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_procedure_code"), ["procedure_code"], unique=False
        )
        batch_op.create_index("ix_dossiers_received_at", ["received_at"], unique=False)

    op.create_table(
        "dossier_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_dossier_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_events_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_events")),
    )
    with op.batch_alter_table("dossier_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_events_dossier_id"), ["dossier_id"], unique=False
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column(
            "object_id",
            existing_type=sa.String(length=64),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
    op.create_table(
        "trusted_certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_trusted_certificates_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_certificates")),
        sa.UniqueConstraint("sha256", name=op.f("uq_trusted_certificates_sha256")),
    )


def downgrade() -> None:
    op.drop_table("trusted_certificates")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column(
            "object_id",
            existing_type=sa.String(length=128),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    with op.batch_alter_table("dossier_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_events_dossier_id"))

    op.drop_table("dossier_events")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_received_at")
        batch_op.drop_index(batch_op.f("ix_dossiers_procedure_code"))
        batch_op.drop_index("ix_dossiers_agency_status")

    op.drop_table("dossiers")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_read")

    op.drop_table("notifications")
    op.drop_table("dossier_counters")
