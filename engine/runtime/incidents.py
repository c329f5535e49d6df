"""Incidents: a step of a process that fails stops its instance until an admin retries it.

A step fails when a task raises (a script, a service call, a timer expression that names no
variable). The instance is kept as it stood, with an incident naming the task, so a retry
with corrected data can go on from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from sqlalchemy.orm import Session

from engine import audit
from storage.models import utcnow

__all__ = ["guarded", "incident"]


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
    audit.record(session, actor_id, "incident", "workflow_instance", instance_id, found)
    return found
