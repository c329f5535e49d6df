"""Stopping a running process from outside it (a withdrawn dossier, a recalled document)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import WorkflowInstance, WorkflowTask, utcnow

__all__ = ["cancel_instance"]


def cancel_instance(session: Session, instance_id: int | None) -> None:
    """Mark the instance cancelled, its waiting tasks too, and stop its timers."""
    if instance_id is None:
        return
    now = utcnow()
    instance = session.get(WorkflowInstance, instance_id)
    if instance is not None:
        instance.status = "cancelled"
        instance.next_timer_at = None
        instance.updated_at = now
    for task in session.scalars(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
        )
    ):
        task.state = "cancelled"
        task.completed_at = now
