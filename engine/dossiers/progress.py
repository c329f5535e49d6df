"""Dossier statuses and the processing-control timeline follow the tasks of its process."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.dossiers.reception import record_event
from engine.dossiers.statuses import Status
from engine.runtime import hooks
from engine.runtime.instances import LoadedInstance, current_data
from engine.workdays import calendar_for
from storage.models import Dossier, WorkflowTask, utcnow

__all__ = ["TASK_STATUS"]

# User task id → the national status the dossier reaches when that task is done.
TASK_STATUS: dict[str, int] = {
    "receive": Status.PROCESSING,
    "issue_result": Status.FINISHED,
    "return_result": Status.RETURNED,
}


def _on_task_completed(
    session: Session, loaded: LoadedInstance, task: WorkflowTask, actor_id: int
) -> None:
    if not loaded.row.business_key:
        return
    dossier = session.scalar(select(Dossier).where(Dossier.instance_id == loaded.row.id))
    if dossier is None:
        return
    now = utcnow()
    allowed = current_data(loaded.workflow).get("step_days", {}).get(task.task_spec)
    used = calendar_for(session).working_time_between(task.created_at, now)
    day = calendar_for(session).day_length
    status = TASK_STATUS.get(task.task_spec)
    if status == Status.FINISHED:
        dossier.finished_at = now
    if status == Status.RETURNED:
        dossier.returned_at = now
        dossier.finished_at = dossier.finished_at or now
    record_event(
        session,
        dossier,
        "handover",
        actor_id=actor_id,
        status=status,
        note=task.name,
        details={
            "task": task.task_spec,
            "started_at": task.created_at.isoformat(),
            "allowed_days": allowed,
            "used_days": str(
                (Decimal(used.total_seconds()) / Decimal(day.total_seconds())).quantize(
                    Decimal("0.01")
                )
            ),
        },
    )


hooks.task_completed.append(_on_task_completed)
