"""agencies' own exchange certificates: per-agency pins, who signed in the evidence log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peer_agencies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_pem", sa.Text(), nullable=True))
    with op.batch_alter_table("exchange_evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_by", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("signer_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_evidence", schema=None) as batch_op:
        batch_op.drop_column("signer_sha256")
        batch_op.drop_column("signed_by")
    with op.batch_alter_table("peer_agencies", schema=None) as batch_op:
        batch_op.drop_column("certificate_pem")
