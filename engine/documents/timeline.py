"""The document's timeline: every status change, direction, signature and delivery."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.models import Document, DocumentEvent

__all__ = ["record_event"]


def record_event(
    session: Session,
    document: Document,
    kind: str,
    *,
    actor_id: int | None,
    status: str | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the timeline, and set the document's status when one is given."""
    if status is not None:
        document.status = status
    session.add(
        DocumentEvent(
            document_id=document.id,
            actor_id=actor_id,
            kind=kind,
            status=status,
            note=note,
            details=details or {},
        )
    )
