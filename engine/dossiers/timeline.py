"""A dossier's timeline: every event of its life, in order, with who did it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.models import Dossier, DossierEvent

__all__ = ["record_event"]


def record_event(
    session: Session,
    dossier: Dossier,
    kind: str,
    *,
    actor_id: int | None,
    status: int | None = None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the dossier's timeline (and set its status when one is given)."""
    if status is not None:
        dossier.status = status
    session.add(
        DossierEvent(
            dossier_id=dossier.id,
            actor_id=actor_id,
            kind=kind,
            status=status,
            note=note,
            details=details or {},
        )
    )
