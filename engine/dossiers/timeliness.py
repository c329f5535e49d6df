"""Timeliness (trước hạn / đúng hạn / trong hạn / quá hạn): one rule for every place showing it.

The dossier view, the list's `overdue` filter, the statistics and the register (form 06) all
ask `timeliness_verdict`, a SQL expression, so they cannot disagree.

The rule (Decree 118/2025, Circular 01/2018; the national scorecard's formula, see
standards §3.4): a dossier's clock reads the moment it finished; while it waits for the
applicant's supplement, the moment the clock stopped (the time waited does not count); else
now. It is overdue when that reading is past its due date, and always when a supplement was
asked for more than once (the scorecard rule). Otherwise a finished dossier is early (done on
a day before the due date) or on time, an open one in time; without a due date (the clock
never started) it is not started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, String, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from engine.dossiers.statuses import Status
from storage.models import Dossier, DossierEvent, UTCDateTime, utcnow

__all__ = ["VERDICTS", "clock_reading", "timeliness_of", "timeliness_verdict"]

VERDICTS: Final = ("not_started", "in_time", "early", "on_time", "overdue")


class _utc_day(FunctionElement[str]):  # noqa: N801  (a SQL function, named like one)
    """The UTC calendar day of a stored instant, as YYYY-MM-DD (the day a Python `.date()` of
    the aware UTC value gives)."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(_utc_day)
def _utc_day_default(element: _utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: timestamptz → UTC wall time, whatever the session's TimeZone.
    (arg,) = element.clauses
    return f"to_char(timezone('UTC', {compiler.process(arg, **kw)}), 'YYYY-MM-DD')"


@compiles(_utc_day, "sqlite")
def _utc_day_sqlite(element: _utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTCDateTime as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    (arg,) = element.clauses
    return f"date({compiler.process(arg, **kw)})"


def _clock_stopped_at() -> Any:
    """When the pending supplement was asked for: the latest request of the dossier."""
    return (
        select(func.max(DossierEvent.at))
        .where(DossierEvent.dossier_id == Dossier.id, DossierEvent.kind == "supplement_requested")
        .correlate(Dossier)
        .scalar_subquery()
    )


def clock_reading(now: datetime) -> ColumnElement[datetime]:
    """The instant a dossier's processing clock shows: finished, stopped for a supplement, or now."""
    at_now = literal(now, UTCDateTime())
    return case(
        (Dossier.finished_at.is_not(None), Dossier.finished_at),
        (Dossier.status == Status.SUPPLEMENT, func.coalesce(_clock_stopped_at(), at_now)),
        else_=at_now,
    )


def timeliness_verdict(now: datetime | None = None) -> ColumnElement[str]:
    """The verdict of each dossier row, one of `VERDICTS`, as a SQL expression over `Dossier`."""
    reading = clock_reading(now or utcnow())
    return case(
        (Dossier.supplement_requests > 1, "overdue"),
        (Dossier.due_at.is_(None), "not_started"),
        (reading > Dossier.due_at, "overdue"),
        (Dossier.finished_at.is_(None), "in_time"),
        (_utc_day(Dossier.due_at) > _utc_day(Dossier.finished_at), "early"),
        else_="on_time",
    )


def timeliness_of(session: Session, dossier: Dossier, now: datetime | None = None) -> str:
    """The verdict for one dossier (flushed), one of `VERDICTS`."""
    verdict = session.scalar(select(timeliness_verdict(now)).where(Dossier.id == dossier.id))
    assert verdict is not None
    return verdict
