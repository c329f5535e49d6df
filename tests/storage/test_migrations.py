"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from storage.migrate import current_revision, head_revision
from storage.models import Base


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_migrations_since_0007_keep_the_data_of_a_running_installation(engine: Engine) -> None:
    # The suite's databases are migrated empty; an installation that upgrades has rows that
    # re-creating a table (SQLite) must not trip over or lose.
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config, upgrade

    def rows() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return [
                *conn.execute(text("SELECT code, path FROM agencies ORDER BY id")).all(),
                *conn.execute(text("SELECT username, agency_id FROM users")).all(),
            ]

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agencies (id, code, name, kind, path, parent_id, created_at) "
                "VALUES (1, '000.00.00.H99', 'Tỉnh', 'province_pc', '/1/', NULL, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (username, full_name, password_hash, agency_id, clearance, "
                "is_active, created_at) VALUES ('u', 'U', 'x', 1, 0, TRUE, '2026-01-01')"
            )
        )
    before = rows()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    assert rows() == before
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert rows() == before
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
