"""process definitions: the forms' SHA-256 is part of a version's identity

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from storage.migrations.rebuild import recreating_tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_definitions = sa.table(
    "process_definitions",
    sa.column("id", sa.Integer()),
    sa.column("forms", sa.JSON()),
    sa.column("forms_sha256", sa.String(length=64)),
)


def _forms_sha256(forms: dict[str, Any]) -> str:
    # Frozen copy of engine.runtime.definitions.forms_sha256: a migration must not change
    # when the code does.
    canonical = json.dumps(forms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    if "forms_sha256" in {c["name"] for c in sa.inspect(conn).get_columns("process_definitions")}:
        # SQLite only: a crash came after the change was committed and before the new
        # revision was recorded (see storage.migrations.rebuild).
        return
    with recreating_tables(conn):
        with op.batch_alter_table("process_definitions", schema=None) as batch_op:
            batch_op.add_column(sa.Column("forms_sha256", sa.String(length=64), nullable=True))
        rows = conn.execute(sa.select(_definitions.c.id, _definitions.c.forms)).all()
        for definition_id, forms in rows:
            conn.execute(
                _definitions.update()
                .where(_definitions.c.id == definition_id)
                .values(forms_sha256=_forms_sha256(forms or {}))
            )
        with op.batch_alter_table("process_definitions", schema=None) as batch_op:
            batch_op.alter_column(
                "forms_sha256", existing_type=sa.String(length=64), nullable=False
            )
            batch_op.drop_constraint("uq_process_definitions_process_id_sha256", type_="unique")
            batch_op.create_unique_constraint(
                batch_op.f("uq_process_definitions_process_id_sha256_forms_sha256"),
                ["process_id", "sha256", "forms_sha256"],
            )


def downgrade() -> None:
    conn = op.get_bind()
    duplicated = conn.execute(
        sa.text(
            "SELECT process_id, sha256 FROM process_definitions "
            "GROUP BY process_id, sha256 HAVING COUNT(*) > 1"
        )
    ).first()
    if duplicated is not None:
        raise RuntimeError(
            f"Process {duplicated[0]} has versions that differ only by their forms; "
            "0006 cannot hold them. Delete the extra versions before downgrading."
        )
    with (
        recreating_tables(conn),
        op.batch_alter_table("process_definitions", schema=None) as batch_op,
    ):
        batch_op.drop_constraint(
            "uq_process_definitions_process_id_sha256_forms_sha256", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_process_definitions_process_id_sha256"), ["process_id", "sha256"]
        )
        batch_op.drop_column("forms_sha256")
