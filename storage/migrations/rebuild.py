"""Shared by migrations that re-create a SQLite table (batch mode) under foreign keys.

Kept apart from any one revision because two use it (0007, 0010); what it does must not
change once they have run anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

__all__ = ["recreating_tables"]


@contextmanager
def recreating_tables(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, run the block in a transaction of its own with foreign keys off.

    SQLite changes a column's type or a unique constraint by re-creating the table; with
    foreign keys on, dropping the old table trips the ON DELETE RESTRICT of the tables that
    reference it (and would run their ON DELETE CASCADE), and `PRAGMA foreign_keys` does
    nothing inside a transaction (sqlite.org/lang_altertable.html,
    "other kinds of table schema changes"). So the migrations so far are committed, the
    block runs alone, the foreign keys are checked, and they are switched back on.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("COMMIT")
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise RuntimeError(f"foreign key broken while re-creating tables: {tuple(broken)}")
        conn.exec_driver_sql("COMMIT")
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    finally:
        # Leave the connection as we found it: foreign keys on, inside a transaction that
        # Alembic (which records the new revision) and the caller go on to commit.
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
