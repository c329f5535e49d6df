"""documents: index the duplicate check's expression (issuer, number without leading zeros)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The old index led with issuer_code and held code_number as written; the check compares
    # ltrim(code_number, '0'), so it scanned every letter of the issuer.
    op.drop_index("ix_documents_issuer_code", table_name="documents")
    op.create_index(
        "ix_documents_duplicates",
        "documents",
        ["agency_id", "issuer_code", sa.text("ltrim(code_number, '0')")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_documents_duplicates", table_name="documents")
    op.create_index(
        "ix_documents_issuer_code",
        "documents",
        ["issuer_code", "code_number", "notation"],
        unique=False,
    )
