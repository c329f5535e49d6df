"""The worker's idle polls read without SQLite's write lock (a real SQLite file in WAL mode)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.db import any_row, make_engine, make_sessionmaker


class _Base(DeclarativeBase):
    pass


class _Job(_Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))


def test_a_poll_answers_at_once_while_a_request_holds_the_write_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        s.add(_Job(state="pending"))

    writing, done = threading.Event(), threading.Event()

    def long_write() -> None:
        with sessions.begin() as s:  # BEGIN IMMEDIATE: SQLite's write lock, held 3 s
            s.add(_Job(state="new"))
            s.flush()
            writing.set()
            done.wait(3)

    t = threading.Thread(target=long_write)
    t.start()
    try:
        assert writing.wait(10)
        t0 = time.monotonic()
        assert any_row(sessions, select(_Job.id).where(_Job.state == "pending"))
        assert not any_row(sessions, select(_Job.id).where(_Job.state == "failed"))
        # The uncommitted row is not seen, and nothing waited for the writer.
        assert not any_row(sessions, select(_Job.id).where(_Job.state == "new"))
        assert time.monotonic() - t0 < 1.0
    finally:
        done.set()
        t.join()
    assert any_row(sessions, select(_Job.id).where(_Job.state == "new"))
    engine.dispose()
