"""Dossier statuses and the processing-control timeline follow the tasks of its process."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.dossiers.reception import record_event
from engine.dossiers.statuses import Status
from engine.runtime import hooks
from engine.runtime.instances import LoadedInstance, current_data
from engine.workdays import calendar_for
from storage.models import (
    Dossier,
    Notification,
    Procedure,
    User,
    UserRole,
    WorkflowInstance,
    WorkflowTask,
    utcnow,
)

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


def _on_deadline(session: Session, instance_id: int, due_at: str | None) -> None:
    # By business key: a deadline already past fires while the instance is being started,
    # before the dossier knows its instance id.
    key = session.scalar(
        select(WorkflowInstance.business_key).where(WorkflowInstance.id == instance_id)
    )
    dossier = session.scalar(select(Dossier).where(Dossier.code == key)) if key else None
    if dossier is None or dossier.status not in (Status.ACCEPTED, Status.PROCESSING):
        return
    procedure = session.scalar(select(Procedure).where(Procedure.code == dossier.procedure_code))
    extra = max(Decimal(1), (procedure.processing_days if procedure else Decimal(2)) / 2)
    calendar = calendar_for(session)
    assert dossier.due_at is not None
    dossier.new_due_at = calendar.add_working_days(max(dossier.due_at, utcnow()), extra)
    dossier.apology_reason = "Hồ sơ chưa giải quyết xong đúng hạn do đang chờ xử lý ở bước: " + (
        ", ".join(_open_steps(session, instance_id)) or "trả kết quả"
    )
    record_event(
        session,
        dossier,
        "apology",
        actor_id=None,
        note=dossier.apology_reason,
        details={
            "due_at": dossier.due_at.isoformat(),
            "new_due_at": dossier.new_due_at.isoformat(),
        },
    )
    # The official who received it answers to the applicant; whoever holds a step, for the delay.
    people = _responsible(session, instance_id) | (
        {dossier.received_by} if dossier.received_by else set()
    )
    for user_id in people:
        session.add(
            Notification(
                user_id=user_id,
                kind="overdue",
                dossier_code=dossier.code,
                text=f"Hồ sơ {dossier.code} đã quá hạn; đã lập phiếu xin lỗi, hẹn lại "
                f"{dossier.new_due_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}",
            )
        )


def _open_steps(session: Session, instance_id: int) -> list[str]:
    return list(
        session.scalars(
            select(WorkflowTask.name).where(
                WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
            )
        )
    )


def _responsible(session: Session, instance_id: int) -> set[int]:
    """Whoever holds a waiting task: its assignee, or every official of its role and agency."""
    people: set[int] = set()
    for task in session.scalars(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
        )
    ):
        if task.assignee_id is not None:
            people.add(task.assignee_id)
            continue
        people.update(
            session.scalars(
                select(User.id)
                .join(UserRole, UserRole.user_id == User.id)
                .where(
                    User.agency_id == task.agency_id,
                    UserRole.role == task.role,
                    User.is_active.is_(True),
                )
            )
        )
    return people


hooks.task_completed.append(_on_task_completed)
hooks.deadline_passed.append(_on_deadline)
