"""The working-day calendar backed by the admin's yearly decisions in the database."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.calendar import CalendarError, DayOverride, Holiday, OfficeHours, WorkCalendar
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.lunar import MAX_YEAR, MIN_YEAR
from engine.unique import flush_unique
from storage.models import CalendarDay

__all__ = [
    "add_override",
    "calendar_for",
    "configure_office_hours",
    "forget_calendars",
    "due_at",
    "list_holidays",
    "remove_override",
]

_office_hours = OfficeHours()


def configure_office_hours(hours: OfficeHours) -> None:
    """Set the office hours used for every deadline in this process (from settings)."""
    global _office_hours
    _office_hours = hours
    _calendars.clear()


# Overrides change a few times a year; a deadline is computed on every step. Each process
# keeps the calendar for a short while (edits made here take effect at once, edits made by
# another process within _TTL seconds).
_TTL = 30.0
_calendars: dict[str, tuple[float, WorkCalendar]] = {}


def calendar_for(session: Session) -> WorkCalendar:
    """A WorkCalendar with every override the admins entered."""
    key = str(session.get_bind().engine.url)
    cached = _calendars.get(key)
    if cached is not None and time.monotonic() - cached[0] < _TTL:
        return cached[1]
    rows = session.scalars(select(CalendarDay)).all()
    calendar = WorkCalendar(
        [DayOverride(r.day, r.kind, r.name) for r in rows],  # type: ignore[arg-type]
        office_hours=_office_hours,
    )
    _calendars[key] = (time.monotonic(), calendar)
    return calendar


def forget_calendars() -> None:
    """Drop every cached calendar (after restoring or truncating a database)."""
    _calendars.clear()


def _forget(session: Session) -> None:
    _calendars.pop(str(session.get_bind().engine.url), None)


def _invalid(e: CalendarError, field: str) -> InvalidInputError:
    return InvalidInputError(
        str(e), code="invalid_calendar_input", details=[{"field": field, "message": str(e)}]
    )


def list_holidays(session: Session, year: int) -> list[Holiday]:
    """Non-working days and make-up workdays of `year`; raises InvalidInputError for a bad year."""
    try:
        return calendar_for(session).holidays(year)
    except CalendarError as e:
        raise _invalid(e, "year") from e


def due_at(
    session: Session, start: dt.datetime, working_days: Decimal | str | float
) -> dt.datetime:
    """The deadline N working days after `start`; raises InvalidInputError on bad input."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise _invalid(
            CalendarError(
                "Thời điểm bắt đầu phải kèm múi giờ, ví dụ +07:00 / start needs a UTC offset, "
                "e.g. 2026-02-13T09:00+07:00"
            ),
            "start",
        )
    _check_year(start.year, "start")
    try:
        return calendar_for(session).add_working_days(start, working_days)
    except CalendarError as e:
        raise _invalid(e, "working_days") from e


def _check_year(year: int, field: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _invalid(
            CalendarError(
                f"Năm {year} nằm ngoài lịch hỗ trợ {MIN_YEAR}–{MAX_YEAR} / year {year} is outside "
                f"the supported calendar {MIN_YEAR}–{MAX_YEAR}"
            ),
            field,
        )


def add_override(
    session: Session, day: dt.date, kind: str, name: str, *, actor_id: int | None
) -> CalendarDay:
    """Record a government decision for a date; raises ConflictError if the date has one."""
    _check_year(day.year, "date")
    try:
        DayOverride(day, kind, name)  # type: ignore[arg-type]
    except CalendarError as e:
        raise _invalid(e, "kind") from e
    taken = ConflictError(
        f"Ngày {day:%d/%m/%Y} đã có điều chỉnh; xoá trước khi nhập lại / "
        f"{day} already has an override; remove it first",
        code="duplicate_override",
    )
    if session.scalar(select(CalendarDay.id).where(CalendarDay.day == day)) is not None:
        raise taken
    row = CalendarDay(day=day, kind=kind, name=name.strip(), created_by=actor_id)
    flush_unique(session, taken, row)
    _forget(session)
    audit.record(
        session,
        actor_id,
        "add_override",
        "calendar_day",
        day.isoformat(),
        {"kind": kind, "name": name},
    )
    return row


def remove_override(session: Session, day: dt.date, *, actor_id: int | None) -> None:
    """Delete the override of a date; raises NotFoundError when there is none."""
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if row is None:
        raise NotFoundError(f"Ngày {day} không có điều chỉnh / {day} has no override")
    session.delete(row)
    session.flush()
    _forget(session)
    audit.record(session, actor_id, "remove_override", "calendar_day", day.isoformat())
