"""Incidents: a step of a process that fails stops its instance until an admin retries it.

A step fails when a task raises (a script, a service call, a timer expression that names no
variable) or when a timer's value is no date or duration ('garbage' for `due_at`): SpiffWorkflow
raises a plain ValueError for the latter, with no task. Either way the instance is kept as it
stood, with an incident naming the task, so a retry with corrected data can go on from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import InvalidInputError
from storage.models import utcnow

__all__ = ["guarded", "incident", "refuse_bad_start_value"]


def incident(task: Task | None, error: object, **extra: Any) -> dict[str, Any]:
    """The incident record of a failed `task` (None: a failure no task explains)."""
    spec = task.task_spec if task is not None else None
    name = getattr(spec, "bpmn_name", None) or getattr(spec, "name", "?")
    return {
        "task": getattr(spec, "name", None),
        "task_name": name,
        "task_id": str(task.id) if task is not None else None,
        "message": f"Công việc '{name}' bị lỗi / task '{name}' failed: {error}",
        "at": utcnow().isoformat(),
        **extra,
    }


def guarded(
    session: Session,
    workflow: BpmnWorkflow,
    instance_id: int,
    step: Callable[[], object],
    actor_id: int | None,
) -> dict[str, Any] | None:
    """Run an engine step; a failing task or timer becomes an incident (audited), returned.

    Errors that no task explains propagate.
    """
    try:
        step()
        return None
    except SpiffWorkflowException as e:
        found = incident(getattr(e, "task", None), e)
    except Exception as e:  # SpiffWorkflow parses timer values with no task in its errors
        timer = _bad_timer(workflow)
        if timer is None:
            raise
        event: TimerEventDefinition = timer.task_spec.event_definition
        value = timer._get_internal_data("event_value")
        found = incident(
            timer,
            f"thời điểm '{value}' (từ {event.expression}) không phải ngày giờ hay khoảng thời "
            f"gian ISO 8601 / the value '{value}' of {event.expression} is no ISO 8601 date-time "
            f"or duration ({e})",
            timer_expression=event.expression,
        )
    audit.record(session, actor_id, "incident", "workflow_instance", instance_id, found)
    return found


def _bad_timer(workflow: BpmnWorkflow) -> Task | None:
    # The timer that failed never reached WAITING: it is a FUTURE timer whose predecessor ran.
    for task in workflow.get_tasks(state=TaskState.FUTURE):
        event = getattr(task.task_spec, "event_definition", None)
        parent = task.parent
        if not isinstance(event, TimerEventDefinition) or parent is None:
            continue
        if not parent.has_state(TaskState.FINISHED_MASK):
            continue
        try:
            task._inherit_data()
            event.has_fired(task)
        except Exception:  # noqa: BLE001 - the failure being looked for
            return task
    return None


def refuse_bad_start_value(found: dict[str, Any] | None, data: dict[str, Any]) -> None:
    """Turn an incident at start caused by a timer value given in the start `data` into a 422.

    Raises InvalidInputError naming the field.
    """
    expression = (found or {}).get("timer_expression")
    if expression is None or expression not in data:
        return
    raise InvalidInputError(
        f"{expression} phải là ngày giờ ISO 8601 có múi giờ, ví dụ 2026-12-31T17:00:00+07:00 / "
        f"{expression} must be an ISO 8601 date-time with an offset, e.g. "
        f"2026-12-31T17:00:00+07:00; got {str(data[expression])[:60]!r}",
        code="invalid_timer_value",
        details=[{"field": f"data.{expression}", "message": "an ISO 8601 date-time"}],
    )
