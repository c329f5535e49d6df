"""Timeliness figures agencies report: early / on time / overdue counts and their rates.

The rates are percentages of the finished dossiers (done or returned), two decimals, None
when none finished. As on the national scorecard (standards §3.4), a dossier finished early
counts as on time too: `on_time_rate` = (early + on time) / finished, `early_rate` = early /
finished is the part of it finished before the due day, and `overdue_rate` = finished
overdue / finished, so `on_time_rate` + `overdue_rate` = 100 (up to rounding). Open dossiers are
counted (`open_in_time`, `open_overdue`) but not rated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.agencies import get_agency, in_scope
from engine.dossiers.access import subtree_ids
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
    early_rate: float | None
    overdue_rate: float | None


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def timeliness_stats(
    session: Session,
    principal: Principal,
    *,
    agency: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Timeliness:
    """Counts and rates for the dossiers an agency's subtree (default: the principal's)
    received or decides (each once; see `subtree_ids`), received in [start, end) when given.

    Raises NotFoundError (unknown agency), PermissionDeniedError (outside the subtree).
    """
    root = get_agency(session, agency) if agency else session.get(Agency, principal.agency_id)
    assert root is not None
    if not in_scope(principal, root.path):
        raise PermissionDeniedError("Ngoài phạm vi của bạn / outside your agency's subtree")
    rows = select(Dossier.status, timeliness_verdict().label("verdict")).where(
        Dossier.id.in_(subtree_ids(root.path)), Dossier.due_at.is_not(None)
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
        on_time_rate=_rate(good, done),
        early_rate=_rate(finished["early"], done),
        overdue_rate=_rate(finished["overdue"], done),
    )
