"""Gap-free counters: one atomic upsert per number, taken in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

__all__ = ["next_number"]


def next_number(session: Session, counter: Any, **key: Any) -> int:
    """Increment the counter row identified by `key` (created at 1) and return its new value.

    `counter` is a model with a unique constraint over exactly the `key` columns and an
    integer `last` column. Concurrent callers serialise on the row; a rolled-back caller
    gives its number back, so the numbers stay gap-free.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = (
        insert(counter)
        .values(**key, last=1)
        .on_conflict_do_update(index_elements=list(key), set_={"last": counter.last + 1})
        .returning(counter.last)
    )
    return int(session.execute(upsert).scalar_one())
