"""agencies.path: text instead of VARCHAR(1000), so a tree may be of any depth (about 270
levels of ids filled the thousand characters), its index usable for prefix LIKEs on PostgreSQL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations.rebuild import recreating_tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        columns = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("agencies")}
        if getattr(columns["path"], "length", None) is None:
            return  # a crash came after the rebuild committed (see storage.migrations.rebuild)
        # Re-creating agencies under foreign keys would trip every table that refers to it.
        with (
            recreating_tables(conn),
            op.batch_alter_table("agencies", schema=None) as batch_op,
        ):
            batch_op.drop_index("ix_agencies_path")
            batch_op.alter_column(
                "path",
                existing_type=sa.String(length=1000),
                type_=sa.Text(),
                existing_nullable=False,
            )
            batch_op.create_index("ix_agencies_path", ["path"], unique=False)
        return
    op.drop_index("ix_agencies_path", table_name="agencies")
    op.alter_column(
        "agencies",
        "path",
        existing_type=sa.String(length=1000),
        type_=sa.Text(),
        existing_nullable=False,
    )
    # A subtree is `path LIKE '/1/4/%'`: PostgreSQL's default text ops serve a LIKE prefix
    # only under the C collation, text_pattern_ops under any.
    op.create_index(
        "ix_agencies_path",
        "agencies",
        ["path"],
        unique=False,
        postgresql_ops={"path": "text_pattern_ops"},
    )


def downgrade() -> None:
    # Fails on PostgreSQL while a path is longer than 1,000 characters: move those agencies
    # up first.
    conn = op.get_bind()
    op.drop_index("ix_agencies_path", table_name="agencies")
    with (
        recreating_tables(conn),
        op.batch_alter_table("agencies", schema=None) as batch_op,
    ):
        batch_op.alter_column(
            "path", existing_type=sa.Text(), type_=sa.String(length=1000), existing_nullable=False
        )
        batch_op.create_index("ix_agencies_path", ["path"], unique=False)
