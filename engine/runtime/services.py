"""The service functions and script functions every process may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine import audit
from engine.runtime import hooks
from engine.runtime.scripts import ServiceCall, ServiceRegistry

__all__ = ["DEFAULT_SERVICES", "StepContext", "script_functions"]

DEFAULT_SERVICES = ServiceRegistry()


@dataclass(frozen=True)
class StepContext:
    """What service functions may touch while an instance runs: the unit of work."""

    session: Session
    instance_id: int
    actor_id: int | None


@DEFAULT_SERVICES.register("record_overdue")
def record_overdue(call: ServiceCall, due_at: str | None = None) -> dict[str, Any]:
    """Mark the case overdue and write it to the audit log (slips come with the dossier module)."""
    ctx: StepContext = call.context
    audit.record(
        ctx.session,
        None,
        "deadline_passed",
        "workflow_instance",
        ctx.instance_id,
        {"due_at": due_at, "task": call.task_name},
    )
    for hook in hooks.deadline_passed:
        hook(ctx.session, ctx.instance_id, due_at)
    return {"overdue": True, "due_at": due_at}


def script_functions(session: Session) -> dict[str, Any]:
    """Functions BPMN scripts and expressions may call, bound to this unit of work."""
    from engine.workdays import calendar_for

    def add_working_days(start: str, days: float | str) -> str:
        """ISO start + N working days (Vietnamese calendar, office hours) as ISO."""
        return (
            calendar_for(session)
            .add_working_days(datetime.fromisoformat(start), Decimal(str(days)))
            .isoformat()
        )

    return {"add_working_days": add_working_days}
