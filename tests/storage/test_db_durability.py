"""The embedded database keeps what it has acknowledged."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine


def test_every_sqlite_connection_commits_to_disk_before_answering(tmp_path: Path) -> None:
    # WAL with synchronous=FULL: each commit syncs the log, so a power cut after a receipt
    # or a status 01 went out cannot roll that commit back (NORMAL can). Foreign keys on.
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        for _ in range(2):  # a fresh pooled connection and a reused one
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
