"""Listeners other domain modules attach to the runtime (the runtime knows none of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from engine.runtime.instances import LoadedInstance
    from storage.models import WorkflowTask

__all__ = ["TaskCompleted", "task_completed"]

TaskCompleted = Callable[[Session, "LoadedInstance", "WorkflowTask", int], None]

# Called after a user task ran and before the instance is persisted, in the same transaction.
task_completed: list[TaskCompleted] = []
