"""Listeners other domain modules attach to the runtime (the runtime knows none of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from engine.runtime.instances import LoadedInstance
    from storage.models import WorkflowTask

__all__ = [
    "Advanced",
    "DeadlinePassed",
    "TaskCompleted",
    "advanced",
    "deadline_passed",
    "task_completed",
]

TaskCompleted = Callable[[Session, "LoadedInstance", "WorkflowTask", int], None]
DeadlinePassed = Callable[[Session, int, str | None], None]
Advanced = Callable[[Session, "LoadedInstance"], None]

# Called when a process's deadline timer fires (`record_overdue`), with the instance id and
# the deadline, in the worker's transaction.
deadline_passed: list[DeadlinePassed] = []

# Called after a user task ran and before the instance is persisted, in the same transaction.
task_completed: list[TaskCompleted] = []

# Called after a completed user task moved the instance on (the engine steps ran, the next
# tasks are READY and written), in the same transaction.
advanced: list[Advanced] = []
