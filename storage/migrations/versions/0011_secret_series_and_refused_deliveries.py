"""documents: number + notation unique per agency, register (series) and year, so the secret
series numbers from 01 beside the normal one; deliveries and status_outbox: failing_since,
when the current run of failed attempts began (the outbox gives up after a while)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 08:00:00.000000
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

from storage.migrations.rebuild import recreating_tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OLD = ("uq_documents_agency_id_year_own_code", ["agency_id", "year", "own_code"])
_NEW = (
    "uq_documents_agency_id_register_year_own_code",
    ["agency_id", "register", "year", "own_code"],
)


def _columns(conn: sa.Connection, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def _uniques(conn: sa.Connection) -> set[str]:
    return {str(u["name"]) for u in sa.inspect(conn).get_unique_constraints("documents")}


def _swap_unique(
    conn: sa.Connection, drop: tuple[str, list[str]], add: tuple[str, list[str]]
) -> None:
    with warnings.catch_warnings():
        # SQLite's reflection skips, with a warning, the expression index it cannot read;
        # it is re-created by hand below.
        warnings.filterwarnings("ignore", ".*expression-based index", sa.exc.SAWarning)
        if add[0] in _uniques(conn):
            return  # SQLite: a crash came after the rebuild committed (migrations.rebuild)
        with recreating_tables(conn):
            with op.batch_alter_table("documents", schema=None) as batch_op:
                batch_op.drop_constraint(drop[0], type_="unique")
                batch_op.create_unique_constraint(add[0], add[1])
            if conn.dialect.name == "sqlite":
                # Re-creating the table dropped the duplicate check's expression index (0008).
                conn.exec_driver_sql(
                    "CREATE INDEX IF NOT EXISTS ix_documents_duplicates "
                    "ON documents (agency_id, issuer_code, ltrim(code_number, '0'))"
                )


def upgrade() -> None:
    conn = op.get_bind()
    for table in ("deliveries", "status_outbox"):
        if "failing_since" not in _columns(conn, table):
            op.add_column(table, sa.Column("failing_since", sa.DateTime(timezone=True)))
    _swap_unique(conn, _OLD, _NEW)


def downgrade() -> None:
    conn = op.get_bind()
    clash = conn.execute(
        sa.text(
            "SELECT agency_id, year, own_code FROM documents WHERE own_code IS NOT NULL "
            "GROUP BY agency_id, year, own_code HAVING COUNT(*) > 1"
        )
    ).first()
    if clash is not None:
        raise RuntimeError(
            f"Agency {clash[0]} has a secret and a normal document numbered {clash[2]} in "
            f"{clash[1]}; 0010 cannot hold both. Change one's notation before downgrading."
        )
    _swap_unique(conn, _NEW, _OLD)
    with recreating_tables(conn):
        for table in ("deliveries", "status_outbox"):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_column("failing_since")
