"""Inserting a row whose key must be unique while another request may insert the same one.

A service checks first (to answer 409 with a clear sentence), but two requests can both pass
the check; the database's unique constraint then refuses the second insert. The insert runs
in a savepoint so that refusal becomes the same `ConflictError` the check gives, and the
rest of the unit of work stays usable.
"""

from __future__ import annotations

import sqlite3

import psycopg.errors
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.errors import ConflictError

__all__ = ["flush_unique", "is_unique_violation"]


def is_unique_violation(exc: BaseException) -> bool:
    """True when `exc` (or the driver error it wraps) is a unique-constraint violation."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.errors.UniqueViolation):
        return True
    return isinstance(orig, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(orig)


def flush_unique(session: Session, conflict: ConflictError, *rows: object) -> None:
    """Add `rows` and flush them in a savepoint; raises `conflict` when a unique key is taken
    (by a concurrent insert the service's own check could not see yet)."""
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError as e:
        if not is_unique_violation(e):
            raise
        raise conflict from e
