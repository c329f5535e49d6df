"""Timeliness figures agencies report: early / on time / overdue, and the on-time rate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.agencies import get_agency, in_scope
from engine.dossiers.statuses import Status
from engine.dossiers.timeliness import timeliness_verdict
from engine.errors import PermissionDeniedError
from engine.principal import Principal
from storage.models import Agency, Dossier

__all__ = ["Timeliness", "timeliness_stats"]

_FINISHED = (Status.FINISHED, Status.RETURNED)
_OPEN = (Status.ACCEPTED, Status.PROCESSING, Status.SUPPLEMENT, Status.FINANCIAL)


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
    """Counts for dossiers received by an agency's subtree (default: the principal's).

    Raises NotFoundError (unknown agency), PermissionDeniedError (outside the subtree).
    """
    root = get_agency(session, agency) if agency else session.get(Agency, principal.agency_id)
    assert root is not None
    if not in_scope(principal, root.path):
        raise PermissionDeniedError("Ngoài phạm vi của bạn / outside your agency's subtree")
    rows = (
        select(Dossier.status, timeliness_verdict().label("verdict"))
        .join(Agency, Agency.id == Dossier.receiving_agency_id)
        .where(Agency.path.startswith(root.path), Dossier.due_at.is_not(None))
    )
    if start:
        rows = rows.where(Dossier.received_at >= start)
    if end:
        rows = rows.where(Dossier.received_at < end)
    sub = rows.subquery()
    finished: Counter[str] = Counter()
    still_open: Counter[str] = Counter()
    for status, verdict, count in session.execute(
        select(sub.c.status, sub.c.verdict, func.count()).group_by(sub.c.status, sub.c.verdict)
    ):
        if status in _FINISHED:
            finished[verdict] += count
        elif status in _OPEN:
            still_open[verdict] += count
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
