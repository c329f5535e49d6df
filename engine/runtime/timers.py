"""The worker's part of the runtime: fire due timers, retry incidents.

Each instance's next timer time is a column; due work is one indexed query. On PostgreSQL
several workers claim instances with `FOR UPDATE SKIP LOCKED`, so a timer never fires twice;
on SQLite every write transaction is already exclusive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.errors import ConflictError, LienthongError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime.incidents import guarded, incident
from engine.runtime.instances import LoadedInstance, advance, load_instance
from engine.runtime.lanes import refuse_routing_keys
from engine.runtime.scripts import ServiceRegistry
from engine.runtime.services import DEFAULT_SERVICES
from storage.db import any_row
from storage.models import Agency, WorkflowInstance, utcnow

__all__ = ["fire_due_timers", "list_incidents", "retry_instance"]

log = logging.getLogger("lienthong.worker")


def _claim_one(session: Session, now: datetime, seen: set[int]) -> int | None:
    stmt = (
        select(WorkflowInstance.id)
        .where(
            WorkflowInstance.status == "running",
            WorkflowInstance.next_timer_at <= now,
            WorkflowInstance.id.not_in(seen),
        )
        .order_by(WorkflowInstance.next_timer_at)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalar(stmt)


def fire_due_timers(
    factory: sessionmaker[Session],
    *,
    now: datetime | None = None,
    limit: int = 100,
    services: ServiceRegistry = DEFAULT_SERVICES,
) -> int:
    """Advance up to `limit` instances whose next timer is due; one transaction each."""
    seen: set[int] = set()  # never spin on an instance whose timer is not due by Spiff's clock
    due = select(WorkflowInstance.id).where(
        WorkflowInstance.status == "running", WorkflowInstance.next_timer_at <= (now or utcnow())
    )
    if not any_row(factory, due):
        return 0
    for _ in range(limit):
        with factory.begin() as session:
            instance_id = _claim_one(session, now or utcnow(), seen)
            if instance_id is None:
                break
            seen.add(instance_id)
            _fire(session, instance_id, services)
    return len(seen)


def _fire(session: Session, instance_id: int, services: ServiceRegistry) -> None:
    # Each instance in a savepoint, its claim (row lock) held: one that cannot go on becomes an
    # incident and the round goes on to the next; re-raised, it was claimed first every round
    # and no timer due after it ever fired.
    try:
        with session.begin_nested():
            loaded = load_instance(session, instance_id, services=services)
            advance(session, loaded, services=services)
    except ConflictError as e:  # changed meanwhile (a task completed): the next round retries
        log.info("timer of instance %s not fired: %s", instance_id, e.message)
    except Exception as e:
        if isinstance(e, LienthongError):
            why = e.message
        else:
            log.exception("timer of instance %s failed", instance_id)
            why = f"lỗi hệ thống, xem nhật ký worker / internal error, see the worker log ({e!r})"
        found = incident(None, why)
        found["message"] = (
            f"Hẹn giờ của phiên {instance_id} không chạy được / the timer of instance "
            f"{instance_id} could not fire: {why}"
        )
        session.expire_all()
        session.execute(
            update(WorkflowInstance)
            .where(WorkflowInstance.id == instance_id, WorkflowInstance.status == "running")
            .values(
                status="incident",
                incident=found,
                next_timer_at=None,
                version=WorkflowInstance.version + 1,
                updated_at=utcnow(),
            )
        )
        audit.record(session, None, "incident", "workflow_instance", instance_id, found)


def retry_instance(
    session: Session,
    instance_id: int,
    principal: Principal,
    data: dict[str, Any] | None = None,
    *,
    services: ServiceRegistry = DEFAULT_SERVICES,
) -> LoadedInstance:
    """Re-run the failed tasks of an instance in incident, optionally after fixing their data.

    Raises PermissionDeniedError (admins only, of the instance's agency or above; data naming
    another agency), NotFoundError (unknown, or above the admin's clearance) and ConflictError
    (no incident to retry).
    """
    if not principal.is_admin:
        raise PermissionDeniedError("Chỉ quản trị viên được chạy lại / Only admins may retry")
    refuse_routing_keys(data or {})
    loaded = load_instance(session, instance_id, services=services, actor_id=principal.user_id)
    _check_reach(loaded, principal)
    if loaded.row.status != "incident":
        raise ConflictError(
            f"Phiên {instance_id} không có sự cố để chạy lại / instance {instance_id} has no incident",
            code="no_incident",
        )
    step = _resume(loaded, data or {})
    loaded.row.incident = None
    audit.record(
        session, principal.user_id, "retry", "workflow_instance", instance_id, {"data": data or {}}
    )
    failed = None
    if step is not None:
        failed = guarded(session, loaded.workflow, instance_id, step, principal.user_id)
    advance(session, loaded, actor_id=principal.user_id, services=services, incident=failed)
    return loaded


def _resume(loaded: LoadedInstance, data: dict[str, Any]) -> Callable[[], None] | None:
    # Where the failure left the workflow: tasks in ERROR (a script or service raised) run
    # again; a task that could not become ready (a timer whose expression or value failed) is
    # updated again, having forgotten the value it computed; a failure no task explains (the
    # worker could not go on) re-runs what was waiting. Each takes the corrected data first.
    workflow = loaded.workflow
    errored = workflow.get_tasks(state=TaskState.ERROR)
    for task in errored:
        task.data.update(data)
        task._set_state(TaskState.READY)
    if errored:
        return None
    task_id = (loaded.row.incident or {}).get("task_id")
    stuck = workflow.get_task_from_id(UUID(task_id)) if task_id else None
    if stuck is not None and not stuck.has_state(TaskState.FINISHED_MASK):
        if stuck.parent is not None:
            stuck.parent.data.update(data)  # the stuck task inherits its parent's data
        stuck.data.update(data)
        for key in ("event_value", "event_fired"):
            stuck.internal_data.pop(key, None)
        return lambda: stuck.task_spec._update(stuck)
    for task in workflow.get_tasks(state=TaskState.WAITING | TaskState.READY):
        task.data.update(data)
    return None


def _check_reach(loaded: LoadedInstance, principal: Principal) -> None:
    # As GET /instances/{id}: a case above the admin's clearance does not exist for them, and
    # an admin answers for their agency's subtree only.
    if loaded.row.secrecy > int(principal.clearance):
        raise NotFoundError(
            f"Không có phiên quy trình {loaded.row.id} / No instance {loaded.row.id}",
            code="instance_not_found",
        )
    if not loaded.agency.path.startswith(principal.agency_path):
        raise PermissionDeniedError("Phiên quy trình ngoài phạm vi / instance out of your scope")


def list_incidents(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[WorkflowInstance], int]:
    """Instances of the principal's agency subtree, within their clearance, waiting for an
    admin, oldest first; returns (page, total)."""
    where = (
        WorkflowInstance.status == "incident",
        WorkflowInstance.secrecy <= int(principal.clearance),
        WorkflowInstance.agency_id.in_(
            select(Agency.id).where(Agency.path.startswith(principal.agency_path))
        ),
    )
    total = session.scalar(select(func.count()).select_from(WorkflowInstance).where(*where)) or 0
    rows = session.scalars(
        select(WorkflowInstance)
        .where(*where)
        .order_by(WorkflowInstance.updated_at)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total
