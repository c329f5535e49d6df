"""index the lookups that scanned: dossiers and documents by instance_id (every workflow step
looks its case up by it), dossiers by competent agency and tasks by agency (who may read a
dossier, for the dossier list), files by previous version (every signing step) and the
object keys a purge looks up

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 11:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without them each completed task scanned the whole dossiers table (twice), and
    # deleting an instance scanned both tables for the ON DELETE SET NULL.
    op.create_index("ix_dossiers_instance_id", "dossiers", ["instance_id"], unique=False)
    op.create_index("ix_documents_instance_id", "documents", ["instance_id"], unique=False)
    op.create_index(
        "ix_dossiers_competent_agency", "dossiers", ["competent_agency_id"], unique=False
    )
    op.create_index("ix_tasks_agency_instance", "tasks", ["agency_id", "instance_id"], unique=False)

    op.create_index("ix_files_previous_id", "files", ["previous_id"], unique=False)
    op.create_index("ix_files_key", "files", ["key"], unique=False)
    op.create_index(
        "ix_exchange_evidence_object_key", "exchange_evidence", ["object_key"], unique=False
    )
    op.create_index(
        "ix_external_signings_prepared_key", "external_signings", ["prepared_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_external_signings_prepared_key", table_name="external_signings")
    op.drop_index("ix_exchange_evidence_object_key", table_name="exchange_evidence")
    op.drop_index("ix_files_key", table_name="files")
    op.drop_index("ix_files_previous_id", table_name="files")
    op.drop_index("ix_tasks_agency_instance", table_name="tasks")
    op.drop_index("ix_dossiers_competent_agency", table_name="dossiers")
    op.drop_index("ix_documents_instance_id", table_name="documents")
    op.drop_index("ix_dossiers_instance_id", table_name="dossiers")
