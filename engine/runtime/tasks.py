"""User tasks: inbox, detail with its form, claim, complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime import hooks
from engine.runtime.forms import render_form, validate_submission
from engine.runtime.instances import LoadedInstance, advance, current_data, load_instance
from engine.runtime.scripts import ServiceRegistry
from engine.runtime.services import DEFAULT_SERVICES
from storage.models import (
    Agency,
    ProcessDefinition,
    User,
    WorkflowInstance,
    WorkflowTask,
    utcnow,
)

__all__ = ["TaskView", "claim_task", "complete_task", "inbox", "task_detail"]


@dataclass(frozen=True)
class TaskView:
    id: int
    instance_id: int
    business_key: str | None
    task: str
    name: str
    lane: str | None
    role: str
    agency_code: str
    assignee: str | None
    state: str
    created_at: datetime
    due_at: datetime | None


def _views(
    session: Session, rows: list[tuple[WorkflowTask, str | None, str, str | None]]
) -> list[TaskView]:
    return [
        TaskView(
            id=t.id,
            instance_id=t.instance_id,
            business_key=key,
            task=t.task_spec,
            name=t.name,
            lane=t.lane,
            role=t.role,
            agency_code=code,
            assignee=assignee,
            state=t.state,
            created_at=t.created_at,
            due_at=t.due_at,
        )
        for t, key, code, assignee in rows
    ]


def _task_query():  # type: ignore[no-untyped-def]
    return (
        select(WorkflowTask, WorkflowInstance.business_key, Agency.code, User.username)
        .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
        .join(Agency, Agency.id == WorkflowTask.agency_id)
        .outerjoin(User, User.id == WorkflowTask.assignee_id)
    )


def inbox(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[TaskView], int]:
    """READY tasks for the principal's agency and roles, unassigned or assigned to them."""
    where = (
        WorkflowTask.state == "ready",
        WorkflowTask.agency_id == principal.agency_id,
        WorkflowTask.role.in_(principal.roles),
        or_(WorkflowTask.assignee_id.is_(None), WorkflowTask.assignee_id == principal.user_id),
    )
    total = session.scalar(select(func.count()).select_from(WorkflowTask).where(*where)) or 0
    rows = (
        session.execute(
            _task_query()
            .where(*where)
            .order_by(WorkflowTask.due_at.is_(None), WorkflowTask.due_at, WorkflowTask.id)
            .limit(limit)
            .offset(offset)
        )
        .tuples()
        .all()
    )
    return _views(session, list(rows)), total


def _task_row(session: Session, task_id: int) -> WorkflowTask:
    row = session.get(WorkflowTask, task_id)
    if row is None:
        raise NotFoundError(
            f"Không có công việc {task_id} / No task {task_id}", code="task_not_found"
        )
    return row


def _task_with_context(session: Session, task_id: int) -> tuple[Any, ...]:
    # One query loads the task with its instance, definition and agency into the session,
    # so the steps that follow find them without going back to the database. The caller
    # keeps the tuple: the identity map only holds objects someone references.
    found = session.execute(
        select(WorkflowTask, WorkflowInstance, ProcessDefinition, Agency)
        .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
        .join(Agency, Agency.id == WorkflowInstance.agency_id)
        .where(WorkflowTask.id == task_id)
    ).first()
    if found is None:
        raise NotFoundError(
            f"Không có công việc {task_id} / No task {task_id}", code="task_not_found"
        )
    return tuple(found)


def _check_access(row: WorkflowTask, principal: Principal, *, to_act: bool) -> None:
    if row.agency_id != principal.agency_id or row.role not in principal.roles:
        raise PermissionDeniedError(
            f"Công việc {row.id} thuộc vai trò '{row.role}' của cơ quan khác hoặc vai trò khác / "
            f"task {row.id} belongs to role '{row.role}' of another agency or role",
            code="task_forbidden",
        )
    if to_act and row.state != "ready":
        raise ConflictError(
            f"Công việc {row.id} đã được xử lý ({row.state}) / task {row.id} is already {row.state}",
            code="task_not_ready",
        )
    if to_act and row.assignee_id not in (None, principal.user_id):
        raise ConflictError(
            f"Công việc {row.id} đã giao cho người khác / task {row.id} is assigned to someone else",
            code="task_assigned_elsewhere",
        )


def task_detail(
    session: Session, task_id: int, principal: Principal
) -> tuple[TaskView, dict[str, Any], dict[str, Any]]:
    """A task, its JSON Schema form (choices and defaults filled) and the case data."""
    row = _task_row(session, task_id)
    _check_access(row, principal, to_act=False)
    loaded = load_instance(session, row.instance_id, readonly=True)
    form = _form(session, loaded, row)
    view = _views(
        session, list(session.execute(_task_query().where(WorkflowTask.id == row.id)).tuples())
    )[0]
    return view, form, current_data(loaded.workflow)


def _form(session: Session, loaded: LoadedInstance, row: WorkflowTask) -> dict[str, Any]:
    spec = loaded.workflow.spec.task_specs.get(row.task_spec)
    if spec is None:
        spec = next(
            (
                s.task_specs[row.task_spec]
                for s in loaded.parsed.subprocess_specs.values()
                if row.task_spec in s.task_specs
            ),
            None,
        )
    props = getattr(spec, "extensions", {}).get("properties", {}) if spec else {}
    schema = loaded.forms.get(props.get("formJsonSchemaFilename", ""))
    task = loaded.workflow.get_task_from_id(UUID(row.task_uuid))
    data = task.data if task is not None else current_data(loaded.workflow)
    return render_form(session, schema, loaded.agency, data)


def claim_task(session: Session, task_id: int, principal: Principal) -> TaskView:
    """Take a task into your own inbox; raises ConflictError if someone else has it."""
    row = _task_row(session, task_id)
    _check_access(row, principal, to_act=True)
    row.assignee_id = principal.user_id
    audit.record(session, principal.user_id, "claim", "task", row.id)
    session.flush()
    return _views(
        session, list(session.execute(_task_query().where(WorkflowTask.id == row.id)).tuples())
    )[0]


def complete_task(
    session: Session,
    task_id: int,
    principal: Principal,
    data: Any,
    *,
    services: ServiceRegistry = DEFAULT_SERVICES,
) -> LoadedInstance:
    """Complete a READY task with form data and run the process to its next wait.

    Raises PermissionDeniedError, ConflictError (already done, or a concurrent change:
    exactly one of two simultaneous completions wins), InvalidInputError (form errors).
    """
    # One flush, in persist: autoflushes before each query cost more than the work itself.
    with session.no_autoflush:
        context = _task_with_context(session, task_id)
        row: WorkflowTask = context[0]
        _check_access(row, principal, to_act=True)
        loaded = load_instance(
            session, row.instance_id, services=services, actor_id=principal.user_id
        )
        task = loaded.workflow.get_task_from_id(UUID(row.task_uuid))
        if task is None or not task.has_state(TaskState.READY):
            raise ConflictError(
                f"Công việc {row.id} không còn chờ xử lý / task {row.id} is no longer waiting",
                code="task_not_ready",
            )
        clean = validate_submission(_form(session, loaded, row), data)
        task.data.update(clean)
        task.run()
        row.state = "completed"
        row.completed_at = utcnow()
        row.completed_by = principal.user_id
        if row.assignee_id is None:
            row.assignee_id = principal.user_id
        audit.record(
            session, principal.user_id, "complete", "task", row.id, {"task": row.task_spec}
        )
        for hook in hooks.task_completed:
            hook(session, loaded, row, principal.user_id)
        advance(
            session,
            loaded,
            actor_id=principal.user_id,
            assign_to=clean.get("next_assignee"),
            services=services,
        )
    return loaded
