"""Timeliness (trước hạn / đúng hạn / trong hạn / quá hạn): one rule for every place showing it.

The dossier view, the list's `overdue` filter, the statistics and the register (form 06) all
ask `timeliness_verdict`, a SQL expression, so they cannot disagree.

The rule (Decree 118/2025, Circular 01/2018; the national scorecard's formula, see
standards §3.4): a dossier's clock reads the moment it finished, or now while it is open;
but while a supplement asked of the applicant is pending, the clock stands at the moment it
was asked for, and stays there if the dossier ends still waiting (withdrawn, suspended): the
time waited never counts. It is overdue when that reading is past its due date, and always
when a supplement was asked for more than once (the scorecard rule). Otherwise a finished
dossier is early (its clock stopped on a calendar day before the due date's) or on time, an
open one in time; without a due date (the clock never started) it is not started. Days are
Vietnamese calendar days (UTC+7), as on every slip.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, String, case, exists, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from engine.calendar import VN_TZ
from storage.models import Dossier, DossierEvent, UTCDateTime, utcnow

__all__ = ["VERDICTS", "VERDICT_NAMES", "clock_reading", "timeliness_of", "timeliness_verdict"]

VERDICTS: Final = ("not_started", "in_time", "early", "on_time", "overdue")
# As the reports (form 06) print them.
VERDICT_NAMES: Final[dict[str, str]] = {
    "not_started": "Chưa tính hạn",
    "in_time": "Đang trong hạn",
    "early": "Trước hạn",
    "on_time": "Đúng hạn",
    "overdue": "Quá hạn",
}

# Vietnam keeps UTC+7 all year (no DST), so a fixed shift gives its calendar day in SQL; a
# named zone would apply the historical offsets (UTC+8 before 1975) the calendar does not.
_VN_OFFSET: Final = VN_TZ.utcoffset(None)
assert _VN_OFFSET is not None and _VN_OFFSET.total_seconds() % 3600 == 0
_VN_HOURS: Final = int(_VN_OFFSET.total_seconds() // 3600)


class _vn_day(FunctionElement[str]):  # noqa: N801  (a SQL function, named like one)
    """The Vietnamese calendar day of a stored instant, as YYYY-MM-DD (the day
    `.astimezone(VN_TZ).date()` gives in Python)."""

    type = String()
    name = "vn_day"
    inherit_cache = True


@compiles(_vn_day)
def _vn_day_default(element: _vn_day, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: timestamptz → UTC wall time, whatever the session's TimeZone, then +7 hours.
    (arg,) = element.clauses
    return (
        f"to_char(timezone('UTC', {compiler.process(arg, **kw)}) + interval '{_VN_HOURS} hours', "
        "'YYYY-MM-DD')"
    )


@compiles(_vn_day, "sqlite")
def _vn_day_sqlite(element: _vn_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTCDateTime as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    (arg,) = element.clauses
    return f"date({compiler.process(arg, **kw)}, '+{_VN_HOURS} hours')"


def _clock_stopped_at() -> Any:
    """When the supplement still pending was asked for: the latest request of the dossier that
    no `supplemented` event followed; NULL when none is pending (also after the dossier ended)."""
    request, answer = aliased(DossierEvent), aliased(DossierEvent)
    answered = exists().where(
        answer.dossier_id == request.dossier_id,
        answer.kind == "supplemented",
        answer.id > request.id,
    )
    return (
        select(func.max(request.at))
        .where(
            request.dossier_id == Dossier.id,
            request.kind == "supplement_requested",
            ~answered,
        )
        .correlate(Dossier)
        .scalar_subquery()
    )


def clock_reading(now: datetime) -> ColumnElement[datetime]:
    """The instant a dossier's processing clock shows: stopped for a supplement still pending
    (whether the dossier is open or ended waiting), else finished, else now."""
    at_now = literal(now, UTCDateTime())
    return case(
        # Only a dossier ever asked for a supplement can be waiting for one.
        (
            Dossier.supplement_requests > 0,
            func.coalesce(_clock_stopped_at(), Dossier.finished_at, at_now),
        ),
        else_=func.coalesce(Dossier.finished_at, at_now),
    )


def timeliness_verdict(now: datetime | None = None) -> ColumnElement[str]:
    """The verdict of each dossier row, one of `VERDICTS`, as a SQL expression over `Dossier`."""
    reading = clock_reading(now or utcnow())
    return case(
        (Dossier.supplement_requests > 1, "overdue"),
        (Dossier.due_at.is_(None), "not_started"),
        (reading > Dossier.due_at, "overdue"),
        (Dossier.finished_at.is_(None), "in_time"),
        (_vn_day(Dossier.due_at) > _vn_day(reading), "early"),
        else_="on_time",
    )


def timeliness_of(session: Session, dossier: Dossier, now: datetime | None = None) -> str:
    """The verdict for one dossier (flushed), one of `VERDICTS`."""
    verdict = session.scalar(select(timeliness_verdict(now)).where(Dossier.id == dossier.id))
    assert verdict is not None
    return verdict
