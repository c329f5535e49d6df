"""Timeliness figures agencies report: early / on time / overdue, and the on-time rate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.agencies import get_agency, in_scope
from engine.dossiers.reading import timeliness
from engine.dossiers.statuses import Status
from engine.errors import PermissionDeniedError
from engine.principal import Principal
from storage.models import Agency, Dossier

__all__ = ["Timeliness", "timeliness_stats"]

_FINISHED = (Status.FINISHED, Status.RETURNED)


@dataclass(frozen=True)
class Timeliness:
    agency: str
    total: int
    finished: int
    early: int
    on_time: int
    finished_overdue: int
    open: int
    open_in_time: int
    open_overdue: int
    on_time_rate: float | None


def timeliness_stats(
    session: Session,
    principal: Principal,
    *,
    agency: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Timeliness:
    """Counts for dossiers received by an agency's subtree (default: the principal's)."""
    root = get_agency(session, agency) if agency else session.get(Agency, principal.agency_id)
    assert root is not None
    if not in_scope(principal, root.path):
        raise PermissionDeniedError("Ngoài phạm vi của bạn / outside your agency's subtree")
    stmt = (
        select(Dossier)
        .join(Agency, Agency.id == Dossier.receiving_agency_id)
        .where(Agency.path.startswith(root.path), Dossier.due_at.is_not(None))
    )
    if start:
        stmt = stmt.where(Dossier.received_at >= start)
    if end:
        stmt = stmt.where(Dossier.received_at < end)
    finished: Counter[str] = Counter()
    still_open: Counter[str] = Counter()
    for d in session.scalars(stmt):
        verdict = timeliness(d)
        if d.status in _FINISHED:
            finished[verdict] += 1
        elif d.status in (Status.ACCEPTED, Status.PROCESSING, Status.SUPPLEMENT, Status.FINANCIAL):
            still_open[verdict] += 1
    done = sum(finished.values())
    good = finished["early"] + finished["on_time"]
    return Timeliness(
        agency=root.code,
        total=done + sum(still_open.values()),
        finished=done,
        early=finished["early"],
        on_time=finished["on_time"],
        finished_overdue=finished["overdue"],
        open=sum(still_open.values()),
        open_in_time=still_open["in_time"],
        open_overdue=still_open["overdue"],
        on_time_rate=round(100 * good / done, 2) if done else None,
    )
