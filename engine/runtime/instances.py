"""Running instances: start, advance, persist with optimistic locking, sync the tasks table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import audit
from engine.errors import ConflictError, NotFoundError, WorkflowError
from engine.runtime import cache, serializer
from engine.runtime.definitions import latest_definition, load_definition
from engine.runtime.lanes import resolve_lane
from engine.runtime.parser import ParsedProcess
from engine.runtime.scripts import ServiceRegistry, make_script_engine
from engine.runtime.services import DEFAULT_SERVICES, StepContext, script_functions
from engine.workdays import calendar_for
from storage.models import Agency, User, UserRole, WorkflowInstance, WorkflowTask, utcnow

__all__ = [
    "InstanceView",
    "LoadedInstance",
    "advance",
    "current_data",
    "instance_view",
    "load_instance",
    "persist",
    "start_instance",
]

_TIMER_EVENTS = {
    "TimeDateEventDefinition",
    "DurationTimerEventDefinition",
    "CycleTimerEventDefinition",
}


@dataclass(frozen=True)
class InstanceView:
    id: int
    process_id: str
    definition_version: int
    business_key: str | None
    agency_code: str
    status: str
    version: int
    incident: dict[str, Any] | None
    ready_tasks: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedInstance:
    row: WorkflowInstance
    parsed: ParsedProcess
    workflow: BpmnWorkflow
    agency: Agency
    definition_version: int
    forms: dict[str, Any] = field(default_factory=dict)


def _bind(
    session: Session, loaded: LoadedInstance, services: ServiceRegistry, actor: int | None
) -> None:
    loaded.workflow.script_engine = make_script_engine(
        script_functions(session), services, StepContext(session, loaded.row.id, actor)
    )


def start_instance(
    session: Session,
    process_id: str,
    *,
    agency_id: int,
    data: dict[str, Any] | None = None,
    business_key: str | None = None,
    actor_id: int | None = None,
    services: ServiceRegistry = DEFAULT_SERVICES,
) -> LoadedInstance:
    """Start the newest version of a process for a case of `agency_id` and run it to its first wait."""
    definition = latest_definition(session, process_id)
    _, parsed, forms = load_definition(session, definition.id)
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFoundError(f"Không có cơ quan {agency_id} / No agency {agency_id}")
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs)
    workflow.task_tree.data.update(data or {})
    row = WorkflowInstance(
        definition_id=definition.id,
        business_key=business_key,
        agency_id=agency.id,
        status="running",
        state="{}",
        serializer_version=serializer.SERIALIZER_VERSION,
        created_by=actor_id,
    )
    session.add(row)
    session.flush()
    loaded = LoadedInstance(row, parsed, workflow, agency, definition.version, forms)
    audit.record(
        session, actor_id, "start", "workflow_instance", row.id, {"process_id": process_id}
    )
    advance(session, loaded, actor_id=actor_id, services=services)
    return loaded


def load_instance(
    session: Session,
    instance_id: int,
    *,
    services: ServiceRegistry = DEFAULT_SERVICES,
    actor_id: int | None = None,
    readonly: bool = False,
) -> LoadedInstance:
    """Load an instance and restore its workflow (from the live cache when still current).

    With `readonly`, the caller promises not to change the workflow, and it stays cached.
    """
    row = session.get(WorkflowInstance, instance_id)
    if row is None:
        raise NotFoundError(f"Không có phiên quy trình {instance_id} / No instance {instance_id}")
    definition, parsed, forms = load_definition(session, row.definition_id)
    workflow = cache.take(session, instance_id, row.state) or serializer.loads(
        row.state, parsed.spec, parsed.subprocess_specs, row.serializer_version
    )
    agency = session.get(Agency, row.agency_id)
    assert agency is not None  # FK
    loaded = LoadedInstance(row, parsed, workflow, agency, definition.version, forms)
    _bind(session, loaded, services, actor_id)
    if readonly:
        cache.stage(session, row.id, row.state, workflow)
    return loaded


def advance(
    session: Session,
    loaded: LoadedInstance,
    *,
    actor_id: int | None = None,
    assign_to: str | None = None,
    services: ServiceRegistry = DEFAULT_SERVICES,
) -> None:
    """Run engine steps until the instance waits; a failing task becomes an incident."""
    _bind(session, loaded, services, actor_id)
    incident = None
    try:
        loaded.workflow.refresh_timers()
        loaded.workflow.do_engine_steps()
    except SpiffWorkflowException as e:
        incident = _incident(e)
        audit.record(session, actor_id, "incident", "workflow_instance", loaded.row.id, incident)
    persist(session, loaded, incident=incident, assign_to=assign_to)


def _incident(e: SpiffWorkflowException) -> dict[str, Any]:
    task = getattr(e, "task", None)
    spec = task.task_spec if task is not None else None
    name = getattr(spec, "bpmn_name", None) or getattr(spec, "name", "?")
    return {
        "task": getattr(spec, "name", None),
        "task_name": name,
        "message": f"Công việc '{name}' bị lỗi / task '{name}' failed: {e}",
        "at": utcnow().isoformat(),
    }


def persist(
    session: Session,
    loaded: LoadedInstance,
    *,
    incident: dict[str, Any] | None = None,
    assign_to: str | None = None,
) -> None:
    """Write state, status, next timer and READY user tasks in the caller's transaction.

    Raises ConflictError (409) when another transaction changed the instance meanwhile.
    """
    row, workflow = loaded.row, loaded.workflow
    row.state = serializer.dumps(workflow)
    row.serializer_version = serializer.SERIALIZER_VERSION
    errored = workflow.get_tasks(state=TaskState.ERROR)
    if incident is None and errored:
        incident = row.incident
    row.incident = incident
    if incident is not None:
        row.status = "incident"
    elif workflow.is_completed():
        row.status = "completed"
    else:
        row.status = "running"
    row.next_timer_at = _next_timer(workflow) if row.status == "running" else None
    row.updated_at = utcnow()
    with session.no_autoflush:
        _sync_tasks(session, loaded, assign_to)
    try:
        session.flush()
    except StaleDataError as e:
        raise ConflictError(
            "Hồ sơ vừa được người khác xử lý; hãy tải lại / "
            "Someone else changed this case just now; reload and try again",
            code="concurrent_update",
        ) from e
    cache.stage(session, row.id, row.state, workflow)


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    times = []
    for event in workflow.waiting_events():
        if event.event_type in _TIMER_EVENTS and isinstance(event.value, str):
            times.append(TimerEventDefinition.get_datetime(event.value))
    return min(times) if times else None


def _sync_tasks(session: Session, loaded: LoadedInstance, assign_to: str | None) -> None:
    workflow, row = loaded.workflow, loaded.row
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    open_rows = session.scalars(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == row.id, WorkflowTask.state == "ready"
        )
    ).all()
    known = set()
    now = utcnow()
    for task_row in open_rows:
        known.add(task_row.task_uuid)
        if task_row.task_uuid not in ready:
            spiff = workflow.get_task_from_id(_uuid(task_row.task_uuid))
            done = spiff is not None and spiff.has_state(TaskState.COMPLETED)
            task_row.state = "completed" if done else "cancelled"
            task_row.completed_at = now
    for uuid, task in ready.items():
        if uuid in known:
            continue
        role, agency = resolve_lane(session, task.task_spec.lane or "", loaded.agency, task.data)
        session.add(
            WorkflowTask(
                instance_id=row.id,
                task_uuid=uuid,
                task_spec=task.task_spec.name,
                name=task.task_spec.bpmn_name or task.task_spec.name,
                lane=task.task_spec.lane,
                role=role,
                agency_id=agency.id,
                assignee_id=_eligible(session, assign_to, role, agency.id)
                or (
                    _previous_assignee(session, row.id, task.task_spec.name, role, agency.id)
                    if workflow.get_tasks(spec_name=task.task_spec.name, state=TaskState.COMPLETED)
                    else None
                ),
                state="ready",
                created_at=now,
                due_at=_task_due(session, task.data, task.task_spec.name, now),
            )
        )


def _uuid(value: str) -> UUID:
    return UUID(value)


def current_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The case data as of the last task that ran (the start data before any ran)."""
    task = workflow.last_task or workflow.task_tree
    return {k: v for k, v in task.data.items() if not k.startswith("spiff__")}


def _eligible(session: Session, username: str | None, role: str, agency_id: int) -> int | None:
    if not username:
        return None
    return session.scalar(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.username == username, User.agency_id == agency_id, UserRole.role == role)
    )


def _previous_assignee(
    session: Session, instance_id: int, spec_name: str, role: str, agency_id: int
) -> int | None:
    # A task sent back for rework returns to whoever did it last, if they still may.
    last = session.scalar(
        select(WorkflowTask.completed_by)
        .where(
            WorkflowTask.instance_id == instance_id,
            WorkflowTask.task_spec == spec_name,
            WorkflowTask.state == "completed",
            WorkflowTask.agency_id == agency_id,
        )
        .order_by(WorkflowTask.id.desc())
        .limit(1)
    )
    if last is None:
        return None
    username = session.scalar(select(User.username).where(User.id == last))
    return _eligible(session, username, role, agency_id)


def _task_due(
    session: Session, data: dict[str, Any], spec_name: str, now: datetime
) -> datetime | None:
    step_days = data.get("step_days")
    if not isinstance(step_days, dict) or spec_name not in step_days:
        return None
    try:
        return calendar_for(session).add_working_days(now, Decimal(str(step_days[spec_name])))
    except (ValueError, ArithmeticError) as e:
        raise WorkflowError(f"step_days[{spec_name}] is not a number of days: {e}") from e


def instance_view(session: Session, loaded: LoadedInstance) -> InstanceView:
    """A read model of the instance for APIs."""
    rows = session.scalars(
        select(WorkflowTask)
        .where(WorkflowTask.instance_id == loaded.row.id, WorkflowTask.state == "ready")
        .order_by(WorkflowTask.id)
    ).all()
    return InstanceView(
        id=loaded.row.id,
        process_id=loaded.parsed.process_id,
        definition_version=loaded.definition_version,
        business_key=loaded.row.business_key,
        agency_code=loaded.agency.code,
        status=loaded.row.status,
        version=loaded.row.version,
        incident=loaded.row.incident,
        ready_tasks=[{"id": t.id, "task": t.task_spec, "name": t.name} for t in rows],
        data=current_data(loaded.workflow),
    )
