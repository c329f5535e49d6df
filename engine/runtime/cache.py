"""Live workflows kept between steps, so a step need not deserialise what the last one wrote.

An entry is published only after its transaction commits, and is used only when the state
read from the database is exactly the state the entry was written as: another process's
write, a rollback or a restored backup can never hand out a stale workflow. A step takes the
entry out while it works, so two requests never share one workflow object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["stage", "take"]

_MAX_ENTRIES = 2048
_PENDING = "lienthong.workflow_cache"
_entries: OrderedDict[tuple[str, int], tuple[str, BpmnWorkflow]] = OrderedDict()
_lock = threading.Lock()


def _key(session: Session, instance_id: int) -> tuple[str, int]:
    bind = session.get_bind()
    return (str(bind.engine.url), instance_id)


def take(session: Session, instance_id: int, state: str) -> BpmnWorkflow | None:
    """The cached workflow of an instance if it was written as exactly `state`; removes it."""
    with _lock:
        entry = _entries.pop(_key(session, instance_id), None)
    if entry is None or entry[0] != state:
        return None
    return entry[1]


def stage(session: Session, instance_id: int, state: str, workflow: BpmnWorkflow) -> None:
    """Offer a workflow for the cache; it is published when the session commits."""
    pending: dict[tuple[str, int], tuple[str, BpmnWorkflow]] = session.info.setdefault(_PENDING, {})
    pending[_key(session, instance_id)] = (state, workflow)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    with _lock:
        for key, entry in pending.items():
            _entries[key] = entry
            _entries.move_to_end(key)
        while len(_entries) > _MAX_ENTRIES:
            _entries.popitem(last=False)


@event.listens_for(Session, "after_rollback")
def _discard(session: Session, *_: Any) -> None:
    session.info.pop(_PENDING, None)
