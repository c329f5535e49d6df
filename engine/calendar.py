"""Working-day calendar: office hours, public holidays and deadlines in working days.

Non-working days are Saturdays, Sundays and the public holidays of the Labour Code 2019
art. 112 (`default_holidays`). Tết and the day next to 2/9 are decided by the government
each year, which also announces extra days off, compensatory days off (nghỉ bù) and
make-up working Saturdays (làm bù): those decisions come in as `DayOverride` data, kept
by an admin, and always beat the computed defaults. Compensatory days are never guessed
here: art. 111.3 leaves their dates to the government's yearly announcement.

All instants are timezone-aware; results are in Vietnam time (`VN_TZ`, UTC+7).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

from engine.lunar import MAX_YEAR, MIN_YEAR, lunar_to_solar

__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "MAX_WORKING_DAYS",
    "VN_TZ",
    "CalendarError",
    "DayKind",
    "DayOverride",
    "Holiday",
    "NationalDayExtra",
    "OfficeHours",
    "WorkCalendar",
    "default_holidays",
]

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")

DayKind = Literal["holiday", "compensatory", "makeup_workday"]
NationalDayExtra = Literal["before", "after"]

MAX_WORKING_DAYS = Decimal(100_000)  # ~380 years: more is a typo, not a legal time limit

_DAY_KINDS: frozenset[str] = frozenset(get_args(DayKind))
_ONE_DAY = dt.timedelta(days=1)
_CENT = Decimal("0.01")
_KIND_NAMES: dict[str, str] = {
    "holiday": "Ngày nghỉ",
    "compensatory": "Nghỉ bù",
    "makeup_workday": "Làm bù",
}


class CalendarError(ValueError):
    """Bad input to the working-day calendar; the message says what to fix."""


@dataclass(frozen=True)
class Holiday:
    """A day in a year's holiday list: a day off, or a make-up working day."""

    date: dt.date
    name: str
    kind: DayKind = "holiday"


@dataclass(frozen=True)
class DayOverride:
    """A government decision for one date, kept by an admin; beats the computed defaults."""

    date: dt.date
    kind: DayKind
    name: str = ""

    def __post_init__(self) -> None:
        # A datetime is a date too, but would never match a date in a set lookup.
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise CalendarError(
                f"Ngày điều chỉnh phải là một ngày (date), không phải {self.date!r} / "
                f"an override's date must be a datetime.date, got {self.date!r}"
            )
        if self.kind not in _DAY_KINDS:
            raise CalendarError(
                f"Loại ngày điều chỉnh không hợp lệ: {self.kind!r} / unknown override kind "
                f"{self.kind!r}; use one of {', '.join(sorted(_DAY_KINDS))}"
            )


@dataclass(frozen=True)
class OfficeHours:
    """Office periods of a working day as (start, end) local times, in order, not overlapping."""

    periods: tuple[tuple[dt.time, dt.time], ...] = (
        (dt.time(7, 30), dt.time(11, 30)),
        (dt.time(13, 0), dt.time(17, 0)),
    )

    def __post_init__(self) -> None:
        periods = tuple((start, end) for start, end in self.periods)  # accept lists too
        object.__setattr__(self, "periods", periods)
        if not periods:
            raise CalendarError("Cần ít nhất một ca làm việc / office hours need a period")
        previous_end = dt.time.min
        for start, end in periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise CalendarError(
                    "Giờ làm việc là giờ Việt Nam, không kèm múi giờ / "
                    "office hours are Vietnam local times: pass times without tzinfo"
                )
            if not previous_end <= start < end:
                raise CalendarError(
                    f"Ca làm việc {start}–{end} không hợp lệ / invalid office period "
                    f"{start}–{end}: each must end after it starts and after the one before"
                )
            previous_end = end

    @property
    def day_length(self) -> dt.timedelta:
        """Working time in one working day (8 hours with the default periods)."""
        lengths = (_at(dt.date.min, end) - _at(dt.date.min, start) for start, end in self.periods)
        return sum(lengths, dt.timedelta(0))


DEFAULT_OFFICE_HOURS = OfficeHours()


def default_holidays(
    year: int, *, national_day_extra: NationalDayExtra = "before"
) -> list[Holiday]:
    """Public holidays of Labour Code 2019 art. 112 in `year`, sorted by date.

    Tết is the last day of the old lunar year and days 1–4 of the new one; the day next
    to 2/9 is 1/9 ("before") or 3/9 ("after"). Raises CalendarError for a year outside
    the lunar calendar's range or an unknown `national_day_extra`.
    """
    _check_year(year)
    if national_day_extra not in ("before", "after"):
        raise CalendarError(
            f"national_day_extra phải là 'before' hoặc 'after', không phải "
            f"{national_day_extra!r} / must be 'before' (1/9) or 'after' (3/9)"
        )
    tet = lunar_to_solar(year, 1, 1)
    days = [
        Holiday(dt.date(year, 1, 1), "Tết Dương lịch"),
        *(Holiday(tet + offset * _ONE_DAY, "Tết Nguyên đán") for offset in range(-1, 4)),
        Holiday(lunar_to_solar(year, 3, 10), "Giỗ Tổ Hùng Vương"),
        Holiday(dt.date(year, 4, 30), "Ngày Chiến thắng"),
        Holiday(dt.date(year, 5, 1), "Ngày Quốc tế Lao động"),
        Holiday(dt.date(year, 9, 1 if national_day_extra == "before" else 3), "Quốc khánh"),
        Holiday(dt.date(year, 9, 2), "Quốc khánh"),
    ]
    return sorted(days, key=lambda holiday: holiday.date)


class WorkCalendar:
    """Working days and working time: weekends, holidays and admin overrides.

    `national_day_extra` is one choice for every year or a mapping year → choice (years
    not in it use "before"). Holidays are cached per year, so build a new calendar when the
    overrides change. Raises CalendarError for two different overrides on one date.
    """

    def __init__(
        self,
        overrides: Iterable[DayOverride] = (),
        office_hours: OfficeHours = DEFAULT_OFFICE_HOURS,
        national_day_extra: NationalDayExtra | Mapping[int, NationalDayExtra] = "before",
    ) -> None:
        self.office_hours = office_hours
        self._extra = national_day_extra
        self._overrides: dict[int, dict[dt.date, DayOverride]] = {}
        for override in overrides:
            if not isinstance(override, DayOverride):
                raise CalendarError(
                    f"Cần DayOverride, không phải {override!r} / expected "
                    f"DayOverride, got {override!r}"
                )
            by_date = self._overrides.setdefault(override.date.year, {})
            known = by_date.setdefault(override.date, override)
            if known != override:
                raise CalendarError(
                    f"Hai điều chỉnh khác nhau cho ngày {override.date:%d/%m/%Y} / two different "
                    f"overrides for {override.date}: {known} and {override}; keep one"
                )
        self._holidays: dict[int, tuple[Holiday, ...]] = {}
        self._days: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] = {}

    @property
    def day_length(self) -> dt.timedelta:
        """Working time in one working day."""
        return self.office_hours.day_length

    def holidays(self, year: int) -> list[Holiday]:
        """Computed holidays merged with the overrides of `year`, sorted by date.

        An override replaces whatever was computed for its date; make-up working days are
        listed with kind "makeup_workday". Raises CalendarError for an unsupported year.
        """
        if year not in self._holidays:
            extra = self._extra if isinstance(self._extra, str) else self._extra.get(year, "before")
            overrides = self._overrides.get(year, {})
            merged = [
                h
                for h in default_holidays(year, national_day_extra=extra)
                if h.date not in overrides
            ]
            merged += [
                Holiday(o.date, o.name or _KIND_NAMES[o.kind], o.kind) for o in overrides.values()
            ]
            self._holidays[year] = tuple(sorted(merged, key=lambda holiday: holiday.date))
        return list(self._holidays[year])

    def is_working_day(self, d: dt.date) -> bool:
        """Whether `d` (a date, or an aware datetime taken in Vietnam time) is a working day.

        Raises CalendarError for a naive datetime or an unsupported year.
        """
        if isinstance(d, dt.datetime):
            d = _to_vn(d, "d").date()
        elif not isinstance(d, dt.date):
            raise CalendarError(f"Cần một ngày (date), không phải {d!r} / expected a date")
        days = self._days.get(d.year)
        if days is None:
            listed = self.holidays(d.year)
            days_off = frozenset(h.date for h in listed if h.kind != "makeup_workday")
            makeup = frozenset(h.date for h in listed if h.kind == "makeup_workday")
            days = self._days[d.year] = (days_off, makeup)
        if d in days[1]:
            return True
        return d not in days[0] and d.weekday() < 5

    def add_working_days(
        self, start: dt.datetime, working_days: Decimal | int | float | str
    ) -> dt.datetime:
        """The instant `working_days` working days after `start`, in Vietnam time.

        One working day is `day_length` of office time (0.5 = 4 hours by default), counted
        from the first working moment at or after `start` (after 17:00 → 07:30 of the next
        working day; at 12:00 → 13:00). The result is the EARLIEST instant at which the
        time has elapsed, so a deadline that would fall on the start of an office period is
        the end of the previous one instead: Monday 07:30 + 1 = Monday 17:00, not Tuesday
        07:30. 0 days gives `start` itself if it is inside office hours or at the end of a
        period, else the start of the next period. Raises CalendarError for a naive
        `start`, a negative, non-finite or over-precise (more than 2 decimals) amount, or
        a result outside the supported years.
        """
        moment = _to_vn(start, "start")
        return self._advance(moment, _scaled(self.day_length, _parse_days(working_days)))

    def add_working_time(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """The earliest instant `amount` of office time after `start`, exact to the
        microsecond (a measured span, e.g. time spent waiting); no time leaves `start`.

        Raises CalendarError for a naive `start` or a result outside the supported years.
        """
        if amount <= dt.timedelta(0):
            return start
        return self._advance(_to_vn(start, "start"), amount)

    def _advance(self, moment: dt.datetime, remaining: dt.timedelta) -> dt.datetime:
        day = moment.date()
        while True:
            if self.is_working_day(day):
                for open_at, close_at in self.office_hours.periods:
                    begin, end = max(moment, _at(day, open_at)), _at(day, close_at)
                    if begin > end:
                        continue
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += _ONE_DAY
            moment = _at(day, dt.time.min)

    def working_time_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Office time on working days between two instants; negative if `end` < `start`.

        Raises CalendarError for a naive datetime or a date outside the supported years.
        """
        first, last = _to_vn(start, "start"), _to_vn(end, "end")
        if last < first:
            return -self.working_time_between(last, first)
        total = dt.timedelta(0)
        day = first.date()
        while day <= last.date():
            if first.date() < day < last.date():
                if self.is_working_day(day):
                    total += self.day_length  # a whole day: no per-period arithmetic
            elif self.is_working_day(day):
                for open_at, close_at in self.office_hours.periods:
                    low, high = max(first, _at(day, open_at)), min(last, _at(day, close_at))
                    if high > low:
                        total += high - low
            day += _ONE_DAY
        return total


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=VN_TZ)


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarError(
            f"Năm {year} nằm ngoài phạm vi lịch làm việc ({MIN_YEAR}–{MAX_YEAR}) / "
            f"year {year} is outside the supported calendar range {MIN_YEAR}–{MAX_YEAR}"
        )


def _to_vn(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise CalendarError(f"{what}: cần datetime, không phải {value!r} / expected a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"{what}: thời điểm {value} thiếu múi giờ / {what} {value} is naive: pass an aware "
            f"datetime, e.g. value.replace(tzinfo=VN_TZ)"
        )
    return value.astimezone(VN_TZ)


def _parse_days(value: Decimal | int | float | str) -> Decimal:
    """A number of working days as a Decimal with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise CalendarError(f"Số ngày làm việc không hợp lệ: {value!r} / invalid number of days")
    try:
        # repr() of a float is its shortest decimal form: 0.1 stays 0.1, not 0.1000000000000000055.
        days = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise CalendarError(
            f"Số ngày làm việc không hợp lệ: {value!r} / {value!r} is not a number of days"
        ) from None
    if not days.is_finite() or days < 0 or days > MAX_WORKING_DAYS:
        raise CalendarError(
            f"Số ngày làm việc phải từ 0 đến {MAX_WORKING_DAYS}: {value!r} / the number of "
            f"working days must be a finite number from 0 to {MAX_WORKING_DAYS}, got {value!r}"
        )
    if days != days.quantize(_CENT):
        raise CalendarError(
            f"Số ngày làm việc chỉ được có 2 chữ số thập phân: {value!r} / use at most two "
            f"decimals for working days (e.g. 0.5), got {value!r}"
        )
    return days


def _scaled(length: dt.timedelta, days: Decimal) -> dt.timedelta:
    """`days` × `length`, rounded to the microsecond."""
    microseconds = (days * (length // dt.timedelta(microseconds=1))).to_integral_value()
    return dt.timedelta(microseconds=int(microseconds))
