"""User tasks: inbox, detail with its form, claim, complete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Row, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from engine import audit
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime import hooks
from engine.runtime.forms import render_form, validate_submission
from engine.runtime.incidents import guarded
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


# The statements of the hot paths are built once; executing a prebuilt statement skips
# building the expression and its cache key on every call.
_VIEW_COLUMNS = (
    WorkflowTask.id,
    WorkflowTask.instance_id,
    WorkflowInstance.business_key,
    WorkflowTask.task_spec.label("task"),
    WorkflowTask.name,
    WorkflowTask.lane,
    WorkflowTask.role,
    Agency.code.label("agency_code"),
    User.username.label("assignee"),
    WorkflowTask.state,
    WorkflowTask.created_at,
    WorkflowTask.due_at,
)
_VIEWS = (
    select(*_VIEW_COLUMNS)
    .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
    .join(Agency, Agency.id == WorkflowTask.agency_id)
    .outerjoin(User, User.id == WorkflowTask.assignee_id)
)
_ONE_VIEW = _VIEWS.where(WorkflowTask.id == bindparam("task_id"))
_INBOX_WHERE = (
    WorkflowTask.state == "ready",
    WorkflowTask.agency_id == bindparam("agency_id"),
    WorkflowTask.role.in_(bindparam("roles", expanding=True)),
    or_(WorkflowTask.assignee_id.is_(None), WorkflowTask.assignee_id == bindparam("user_id")),
    WorkflowInstance.secrecy <= bindparam("clearance"),
)
_INBOX_COUNT = (
    select(func.count())
    .select_from(WorkflowTask)
    .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
    .where(*_INBOX_WHERE)
)
_INBOX_PAGE = (
    _VIEWS.where(*_INBOX_WHERE)
    .order_by(WorkflowTask.due_at.is_(None), WorkflowTask.due_at, WorkflowTask.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_CLAIM = (
    update(WorkflowTask)
    .where(
        WorkflowTask.id == bindparam("task_id"),
        WorkflowTask.state == "ready",
        or_(WorkflowTask.assignee_id.is_(None), WorkflowTask.assignee_id == bindparam("user_id")),
    )
    .values(assignee_id=bindparam("user_id"))
)
_OPEN = aliased(WorkflowTask, name="open_task")
_TASK_WITH_CONTEXT = (
    select(WorkflowTask, WorkflowInstance, ProcessDefinition, Agency, _OPEN.id, _OPEN.task_uuid)
    .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
    .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
    .join(Agency, Agency.id == WorkflowInstance.agency_id)
    .outerjoin(_OPEN, and_(_OPEN.instance_id == WorkflowTask.instance_id, _OPEN.state == "ready"))
    .where(WorkflowTask.id == bindparam("task_id"))
)


def _views(rows: Sequence[Row[Any]]) -> list[TaskView]:
    return [TaskView(**row._asdict()) for row in rows]


def _view(session: Session, task_id: int) -> TaskView:
    return _views(session.execute(_ONE_VIEW, {"task_id": task_id}).all())[0]


def inbox(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[TaskView], int]:
    """READY tasks for the principal's agency and roles, unassigned or assigned to them."""
    params = {
        "agency_id": principal.agency_id,
        "roles": list(principal.roles),
        "user_id": principal.user_id,
        "clearance": int(principal.clearance),
    }
    total = session.scalar(_INBOX_COUNT, params) or 0
    rows = session.execute(_INBOX_PAGE, {**params, "limit": limit, "offset": offset}).all()
    return _views(rows), total


def _task_row(session: Session, task_id: int) -> WorkflowTask:
    row = session.get(WorkflowTask, task_id)
    if row is None:
        raise NotFoundError(
            f"Không có công việc {task_id} / No task {task_id}", code="task_not_found"
        )
    return row


def _task_with_context(
    session: Session, task_id: int
) -> tuple[tuple[Any, ...], list[tuple[int, str]]]:
    # One query loads the task with its instance, definition and agency into the session,
    # so the steps that follow find them without going back to the database, and the
    # (id, uuid) of the instance's READY rows, one result row each, for persist. The caller
    # keeps the tuple: the identity map only holds objects someone references.
    found = session.execute(_TASK_WITH_CONTEXT, {"task_id": task_id}).all()
    if not found:
        raise NotFoundError(
            f"Không có công việc {task_id} / No task {task_id}", code="task_not_found"
        )
    return tuple(found[0][:4]), [(r[4], r[5]) for r in found if r[4] is not None]


def _secrecy(session: Session, row: WorkflowTask) -> int:
    instance = session.get(WorkflowInstance, row.instance_id)
    return instance.secrecy if instance is not None else 0


def _check_access(row: WorkflowTask, principal: Principal, *, to_act: bool, secrecy: int) -> None:
    if secrecy > int(principal.clearance):
        raise PermissionDeniedError(
            f"Công việc {row.id} thuộc hồ sơ/văn bản mật vượt mức được tiếp cận / task {row.id} "
            "belongs to a case whose secrecy is above your clearance",
            code="clearance_required",
        )
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
    _check_access(row, principal, to_act=False, secrecy=_secrecy(session, row))
    loaded = load_instance(session, row.instance_id, readonly=True)
    form = _form(session, loaded, row)
    return _view(session, row.id), form, current_data(loaded.workflow)


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
    return render_form(session, schema, loaded.agency, data, loaded.row.secrecy)


def claim_task(session: Session, task_id: int, principal: Principal) -> TaskView:
    """Take a task into your own inbox; raises ConflictError if someone else has it."""
    row = _task_row(session, task_id)
    _check_access(row, principal, to_act=True, secrecy=_secrecy(session, row))
    # One conditional UPDATE: of two simultaneous claims the second waits for the first's row
    # lock, then finds the task taken and changes nothing (a read-then-write let both win).
    params = {"task_id": row.id, "user_id": principal.user_id}
    claimed = session.connection().execute(_CLAIM, params)
    session.expire(row)
    if claimed.rowcount != 1:  # someone else took or finished it meanwhile: say which
        _check_access(row, principal, to_act=True, secrecy=_secrecy(session, row))
        raise ConflictError(
            f"Công việc {row.id} vừa được người khác nhận / task {row.id} was just taken",
            code="task_assigned_elsewhere",
        )
    audit.record(session, principal.user_id, "claim", "task", row.id)
    session.flush()
    return _view(session, row.id)


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
        context, open_rows = _task_with_context(session, task_id)
        row: WorkflowTask = context[0]
        _check_access(row, principal, to_act=True, secrecy=context[1].secrecy)
        loaded = load_instance(
            session, row.instance_id, services=services, actor_id=principal.user_id
        )
        loaded.open_task_rows = open_rows
        task = loaded.workflow.get_task_from_id(UUID(row.task_uuid))
        if task is None or not task.has_state(TaskState.READY):
            raise ConflictError(
                f"Công việc {row.id} không còn chờ xử lý / task {row.id} is no longer waiting",
                code="task_not_ready",
            )
        clean = validate_submission(_form(session, loaded, row), data)
        task.data.update(clean)
        # Running the task readies what follows it: a timer whose value fails stops the case
        # with an incident an admin can retry, as a failure in the engine steps does.
        failed = guarded(session, loaded.workflow, loaded.row.id, task.run, principal.user_id)
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
            incident=failed,
        )
        for after in hooks.advanced:
            after(session, loaded)
    return loaded
