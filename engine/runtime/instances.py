"""Running instances: start, advance, persist with optimistic locking, sync the tasks table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from engine import audit
from engine.errors import ConflictError, NotFoundError, WorkflowError
from engine.runtime import cache, serializer
from engine.runtime.definitions import latest_definition, load_definition
from engine.runtime.incidents import guarded
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

# A step's writes are plain Core statements built once: the ORM's unit of work cost more
# than the database itself (see bench/engine.py).
_INSTANCES = cast(Table, WorkflowInstance.__table__)
_TASKS = cast(Table, WorkflowTask.__table__)
_UPDATE_INSTANCE = update(_INSTANCES).where(
    _INSTANCES.c.id == bindparam("_id"), _INSTANCES.c.version == bindparam("_version")
)
_OPEN_TASKS = select(_TASKS.c.id, _TASKS.c.task_uuid).where(
    _TASKS.c.instance_id == bindparam("instance_id"), _TASKS.c.state == "ready"
)
_ELIGIBLE = (
    select(User.id)
    .join(UserRole, UserRole.user_id == User.id)
    .where(
        User.username == bindparam("username"),
        User.agency_id == bindparam("agency_id"),
        UserRole.role == bindparam("role"),
        User.clearance >= bindparam("clearance"),
    )
)
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("_id"))
_INSERT_TASK = insert(_TASKS)


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
    # (id, task uuid) of the instance's READY task rows, when the caller already read them
    # in this transaction; the next persist uses them instead of asking again.
    open_task_rows: list[tuple[int, str]] | None = field(default=None, repr=False)


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
    secrecy: int = 0,
) -> LoadedInstance:
    """Start the newest version of a process for a case of `agency_id` and run it to its first wait.

    A `secrecy` above 0 keeps its tasks from users whose clearance is lower.
    """
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
        secrecy=secrecy,
    )
    session.add(row)
    session.flush()
    loaded = LoadedInstance(row, parsed, workflow, agency, definition.version, forms)
    loaded.open_task_rows = []  # a new instance has no task rows yet
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
        raise NotFoundError(
            f"Không có phiên quy trình {instance_id} / No instance {instance_id}",
            code="instance_not_found",  # the same answer as a secret one the caller may not see
        )
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
    incident: dict[str, Any] | None = None,
) -> None:
    """Run engine steps until the instance waits; a failing task becomes an incident.

    With an `incident` (the step before failed), the instance is only persisted with it.
    """
    _bind(session, loaded, services, actor_id)
    if incident is None:
        incident = guarded(session, loaded.workflow, loaded.row.id, _steps(loaded), actor_id)
    persist(session, loaded, incident=incident, assign_to=assign_to)


def _steps(loaded: LoadedInstance) -> Callable[[], None]:
    def run() -> None:
        loaded.workflow.refresh_timers()
        loaded.workflow.do_engine_steps()

    return run


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
    state = serializer.dumps(workflow)
    if incident is None and workflow.get_tasks(state=TaskState.ERROR):
        incident = row.incident
    if incident is not None:
        status = "incident"
    elif workflow.is_completed():
        status = "completed"
    else:
        status = "running"
    now = utcnow()
    with session.no_autoflush:
        # Everything that may fail is worked out before the first write.
        changes = _sync_tasks(session, loaded, assign_to, now)
        _write_instance(
            session,
            row,
            {
                "state": state,
                "serializer_version": serializer.SERIALIZER_VERSION,
                "incident": incident,
                "status": status,
                "next_timer_at": _next_timer(workflow) if status == "running" else None,
                "updated_at": now,
            },
        )
        changes.write(session)
    try:
        session.flush()  # what the caller and the hooks added: audit events, dossier events
    except StaleDataError as e:
        raise _conflict() from e
    cache.stage(session, row.id, state, workflow)


def _conflict() -> ConflictError:
    return ConflictError(
        "Hồ sơ vừa được người khác xử lý; hãy tải lại / "
        "Someone else changed this case just now; reload and try again",
        code="concurrent_update",
    )


def _write_instance(session: Session, row: WorkflowInstance, values: dict[str, Any]) -> None:
    # One UPDATE of the columns that changed, guarded by the version counter as the ORM's
    # version_id_col would be; the row object is then told the new values as committed, so
    # no flush writes it again.
    pending = instance_state(row).committed_state
    params = {k: v for k, v in values.items() if k in pending or getattr(row, k) != v}
    params["updated_at"] = values["updated_at"]
    params["version"] = row.version + 1
    result = session.connection().execute(
        _UPDATE_INSTANCE, {"_id": row.id, "_version": row.version, **params}
    )
    if result.rowcount != 1:
        raise _conflict()
    for key, value in params.items():
        set_committed_value(row, key, value)


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    times = []
    for event in workflow.waiting_events():
        if event.event_type in _TIMER_EVENTS and isinstance(event.value, str):
            times.append(TimerEventDefinition.get_datetime(event.value))
    return min(times) if times else None


@dataclass
class _TaskChanges:
    """What one step changes in the tasks table, written as a few executemany statements."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    closes: list[dict[str, Any]] = field(default_factory=list)
    objects: list[tuple[WorkflowTask, dict[str, Any]]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        conn = session.connection()
        for obj, values in self.objects:
            conn.execute(_UPDATE_TASK, {"_id": obj.id, **values})
            for key, value in values.items():
                set_committed_value(obj, key, value)
        if self.closes:
            conn.execute(_UPDATE_TASK, self.closes)
        if self.inserts:
            conn.execute(_INSERT_TASK, self.inserts)


def _sync_tasks(
    session: Session, loaded: LoadedInstance, assign_to: str | None, now: datetime
) -> _TaskChanges:
    workflow, row = loaded.workflow, loaded.row
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    changes = _TaskChanges()
    known = set()
    open_rows = loaded.open_task_rows
    loaded.open_task_rows = None
    if open_rows is None:
        open_rows = [
            (r.id, r.task_uuid)
            for r in session.connection().execute(_OPEN_TASKS, {"instance_id": row.id})
        ]
    for task_id, task_uuid in open_rows:
        known.add(task_uuid)
        if task_uuid in ready:
            continue
        spiff = workflow.get_task_from_id(_uuid(task_uuid))
        done = spiff is not None and spiff.has_state(TaskState.COMPLETED)
        close = {"state": "completed" if done else "cancelled", "completed_at": now}
        obj = session.identity_map.get(identity_key(WorkflowTask, task_id))
        if obj is None:
            changes.closes.append({"_id": task_id, **close})
        else:  # loaded in this session (the task just completed): keep the object current
            obj_pending = instance_state(obj).committed_state
            values = {k: getattr(obj, k) for k in obj_pending}
            changes.objects.append((obj, {**values, **close}))
    for uuid, task in ready.items():
        if uuid in known:
            continue
        spec = task.task_spec
        role, agency = resolve_lane(session, spec.lane or "", loaded.agency, task.data)
        changes.inserts.append(
            {
                "instance_id": row.id,
                "task_uuid": uuid,
                "task_spec": spec.name,
                "name": spec.bpmn_name or spec.name,
                "lane": spec.lane,
                "role": role,
                "agency_id": agency.id,
                "assignee_id": _eligible(session, assign_to, role, agency.id, row.secrecy)
                or (
                    _previous_assignee(session, row.id, spec.name, role, agency.id, row.secrecy)
                    if workflow.get_next_task(spec_name=spec.name, state=TaskState.COMPLETED)
                    else None
                ),
                "state": "ready",
                "created_at": now,
                "due_at": _task_due(session, task.data, spec.name, now),
                "completed_at": None,
                "completed_by": None,
            }
        )
    return changes


def _uuid(value: str) -> UUID:
    return UUID(value)


def current_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The case data as of the last task that ran (the start data before any ran)."""
    task = workflow.last_task or workflow.task_tree
    return {k: v for k, v in task.data.items() if not k.startswith("spiff__")}


def _eligible(
    session: Session, username: str | None, role: str, agency_id: int, clearance: int
) -> int | None:
    # Only someone cleared for the case's secrecy may hold one of its tasks.
    if not username:
        return None
    params = {"username": username, "agency_id": agency_id, "role": role, "clearance": clearance}
    return session.scalar(_ELIGIBLE, params)


def _previous_assignee(
    session: Session, instance_id: int, spec_name: str, role: str, agency_id: int, clearance: int
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
    return _eligible(session, username, role, agency_id, clearance)


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
