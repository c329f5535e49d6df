"""Ring the outbox's bell when a commit queued a delivery or a status that is due now.

The session factory carries the bell (`storage.db.make_sessionmaker`); these hooks decide
when to ring. Every process that writes must import this module (`engine.listeners` does),
or the worker of `serve --processes N` would wait for its next poll.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from storage.models import Delivery, StatusOutbox, utcnow

__all__: list[str] = []


@event.listens_for(Session, "after_flush")
def _note_due(session: Session, _context: Any) -> None:
    # A delivery or status due now was written: ring the outbox's bell once this commits
    # (a claimed or failed entry is due later, and rings nothing).
    if "doorbell" not in session.info or session.info.get("ring"):
        return
    now = utcnow()
    for row in chain(session.new, session.dirty):
        if (
            isinstance(row, Delivery | StatusOutbox)
            and row.state == "pending"
            and row.next_attempt_at is not None
            and row.next_attempt_at <= now
        ):
            session.info["ring"] = True
            return


@event.listens_for(Session, "after_commit")
def _ring(session: Session) -> None:
    # A released savepoint commits nothing yet: ring when the real transaction commits.
    if not session.in_nested_transaction() and session.info.pop("ring", False):
        session.info["doorbell"].ring()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop("ring", None)
