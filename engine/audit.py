"""The audit log: who did what to which object, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditEvent

__all__ = ["record"]


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str | int,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit event; it commits or rolls back with the unit of work."""
    session.add(
        AuditEvent(
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details=details or {},
        )
    )
