"""Working-day calendar: holidays, overrides, deadlines and working time."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import (
    VN_TZ,
    CalendarError,
    DayOverride,
    Holiday,
    OfficeHours,
    WorkCalendar,
    default_holidays,
)

CALENDAR = WorkCalendar()
PERIODS = ((dt.time(7, 30), dt.time(11, 30)), (dt.time(13), dt.time(17)))


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


@cache
def _holiday_dates(year: int) -> frozenset[dt.date]:
    return frozenset(h.date for h in default_holidays(year))


def is_day_off(d: dt.date) -> bool:
    """Reference for the default calendar: weekends and the listed public holidays."""
    return d.weekday() >= 5 or d in _holiday_dates(d.year)


def work(days: Decimal | int) -> dt.timedelta:
    """`days` working days of the default office hours (8 hours each)."""
    return dt.timedelta(minutes=int(days * 8 * 60))


def in_office_hours_or_at_period_end(t: dt.datetime) -> bool:
    local = t.astimezone(VN_TZ)
    return not is_day_off(local.date()) and any(
        start <= local.timetz().replace(tzinfo=None) <= end for start, end in PERIODS
    )


def next_working_day(d: dt.date) -> dt.date:
    d += dt.timedelta(days=1)
    while is_day_off(d):
        d += dt.timedelta(days=1)
    return d


OFFSETS = st.integers(-12 * 4, 14 * 4).map(lambda q: dt.timezone(dt.timedelta(minutes=15 * q)))
STARTS = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 12, 31), timezones=OFFSETS
)
HALVES = st.integers(0, 400).map(lambda k: Decimal(k) / 2)
WORKING_DAYS_1990_2100 = st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)).filter(
    lambda d: not is_day_off(d)
)


# --- holidays ------------------------------------------------------------------------------


def test_default_holidays_2026() -> None:
    assert [(h.date, h.name) for h in default_holidays(2026)] == [
        (dt.date(2026, 1, 1), "Tết Dương lịch"),
        *[(dt.date(2026, 2, d), "Tết Nguyên đán") for d in range(16, 21)],
        (dt.date(2026, 4, 26), "Giỗ Tổ Hùng Vương"),
        (dt.date(2026, 4, 30), "Ngày Chiến thắng"),
        (dt.date(2026, 5, 1), "Ngày Quốc tế Lao động"),
        (dt.date(2026, 9, 1), "Quốc khánh"),
        (dt.date(2026, 9, 2), "Quốc khánh"),
    ]
    assert {h.kind for h in default_holidays(2026)} == {"holiday"}


@pytest.mark.parametrize("year", range(1990, 2101))
def test_eleven_holidays_every_year_with_five_days_of_tet(year: int) -> None:
    holidays = default_holidays(year)
    assert len(holidays) == 11
    tet = [h.date for h in holidays if h.name == "Tết Nguyên đán"]
    assert [d - tet[0] for d in tet] == [dt.timedelta(days=i) for i in range(5)]
    assert dt.date(year, 1, 20) <= tet[0] <= dt.date(year, 2, 19)


def test_national_day_extra_after_gives_3_september() -> None:
    dates = {h.date for h in default_holidays(2026, national_day_extra="after")}
    assert dt.date(2026, 9, 3) in dates and dt.date(2026, 9, 1) not in dates


def test_national_day_extra_can_be_chosen_per_year() -> None:
    calendar = WorkCalendar(national_day_extra={2026: "after"})
    assert calendar.is_working_day(dt.date(2026, 9, 1))
    assert not calendar.is_working_day(dt.date(2026, 9, 3))
    assert not calendar.is_working_day(dt.date(2027, 9, 1))  # other years: 1/9


def test_holidays_merge_overrides_sorted() -> None:
    calendar = WorkCalendar(
        [
            DayOverride(dt.date(2026, 9, 1), "makeup_workday", "Làm việc bình thường"),
            DayOverride(dt.date(2026, 4, 27), "compensatory", "Nghỉ bù Giỗ Tổ Hùng Vương"),
            DayOverride(dt.date(2026, 9, 3), "holiday"),
            DayOverride(dt.date(2027, 1, 2), "holiday", "Not 2026"),
        ]
    )
    listed = calendar.holidays(2026)
    assert listed == sorted(listed, key=lambda h: h.date)
    assert Holiday(dt.date(2026, 4, 27), "Nghỉ bù Giỗ Tổ Hùng Vương", "compensatory") in listed
    assert Holiday(dt.date(2026, 9, 1), "Làm việc bình thường", "makeup_workday") in listed
    assert Holiday(dt.date(2026, 9, 3), "Ngày nghỉ", "holiday") in listed
    assert [h for h in listed if h.date == dt.date(2026, 9, 1)] == [  # replaced, not added
        Holiday(dt.date(2026, 9, 1), "Làm việc bình thường", "makeup_workday")
    ]
    assert all(h.date.year == 2026 for h in listed)
    assert len(listed) == 13  # 11 defaults, 1/9 replaced, 27/4 and 3/9 added


# --- working days --------------------------------------------------------------------------


def test_tet_2026_days_are_not_working_days() -> None:
    assert CALENDAR.is_working_day(dt.date(2026, 2, 13))  # Friday before
    for day in range(14, 23):  # Sat 14 … Sun 22: weekend, Tết Mon 16 … Fri 20, weekend
        assert not CALENDAR.is_working_day(dt.date(2026, 2, day))
    assert CALENDAR.is_working_day(dt.date(2026, 2, 23))


def test_is_working_day_takes_an_aware_datetime_in_vietnam_time() -> None:
    # 2026-02-13 20:00 UTC is already Saturday 14/02 03:00 in Vietnam.
    assert not CALENDAR.is_working_day(dt.datetime(2026, 2, 13, 20, tzinfo=dt.UTC))
    with pytest.raises(CalendarError):
        CALENDAR.is_working_day(dt.datetime(2026, 2, 13, 20))


@settings(max_examples=100)
@given(st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)))
def test_is_working_day_matches_weekends_and_holidays(d: dt.date) -> None:
    assert CALENDAR.is_working_day(d) is not is_day_off(d)


@settings(max_examples=100)
@given(
    st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)),
    st.sampled_from(["holiday", "compensatory"]),
)
def test_overrides_beat_defaults(d: dt.date, kind: str) -> None:
    assert not WorkCalendar([DayOverride(d, kind, "x")]).is_working_day(d)  # type: ignore[arg-type]
    assert WorkCalendar([DayOverride(d, "makeup_workday", "x")]).is_working_day(d)


@settings(max_examples=50, deadline=None)
@given(
    st.dates(dt.date(1990, 1, 5), dt.date(2100, 12, 24)).map(
        lambda d: d + dt.timedelta(days=5 - d.weekday() if d.weekday() <= 5 else 6)
    )
)
def test_makeup_saturday_counts_as_a_working_day(saturday: dt.date) -> None:
    assert saturday.weekday() == 5
    calendar = WorkCalendar([DayOverride(saturday, "makeup_workday", "Làm bù")])
    friday_evening = dt.datetime.combine(saturday - dt.timedelta(days=1), dt.time(17), VN_TZ)
    due = calendar.add_working_days(friday_evening, 1)
    assert due == dt.datetime.combine(saturday, dt.time(17), VN_TZ)
    assert CALENDAR.add_working_days(friday_evening, 1).date() > saturday + dt.timedelta(days=1)


# --- deadlines: properties -----------------------------------------------------------------


@settings(max_examples=300)
@given(STARTS, HALVES)
def test_due_is_in_office_hours_of_a_working_day(start: dt.datetime, days: Decimal) -> None:
    due = CALENDAR.add_working_days(start, days)
    assert due.tzinfo is VN_TZ
    assert due >= start
    assert in_office_hours_or_at_period_end(due)
    assert CALENDAR.is_working_day(due.date())


@settings(max_examples=300)
@given(STARTS, HALVES)
def test_working_time_until_due_is_the_requested_days(start: dt.datetime, days: Decimal) -> None:
    due = CALENDAR.add_working_days(start, days)
    assert CALENDAR.working_time_between(start, due) == work(days)
    if days:  # the earliest such instant: a microsecond sooner is not enough
        early = due - dt.timedelta(microseconds=1)
        assert CALENDAR.working_time_between(start, early) == work(days) - (due - early)


@settings(max_examples=200)
@given(STARTS, HALVES, HALVES)
def test_due_grows_with_the_number_of_days(start: dt.datetime, a: Decimal, b: Decimal) -> None:
    shorter, longer = sorted((a, b))
    first, second = (
        CALENDAR.add_working_days(start, shorter),
        CALENDAR.add_working_days(start, longer),
    )
    assert first < second if shorter < longer else first == second


@st.composite
def starts_near_holidays(draw: st.DrawFn) -> dt.datetime:
    year = draw(st.integers(1990, 2100))
    anchor = draw(st.sampled_from([h.date for h in default_holidays(year)]))
    day = anchor + dt.timedelta(days=draw(st.integers(-4, 4)))
    minute = draw(st.integers(0, 24 * 60 - 1))
    return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), VN_TZ)


def minute_is_working(t: dt.datetime) -> bool:
    """Whether the whole minute starting at `t` lies in an office period of a working day."""
    minute = t.hour * 60 + t.minute
    return not is_day_off(t.date()) and any(
        a.hour * 60 + a.minute <= minute < b.hour * 60 + b.minute for a, b in PERIODS
    )


def brute_force_due(start: dt.datetime, days: Decimal) -> dt.datetime:
    """Walk minute by minute, counting whole minutes of office time on working days."""
    needed, t = int(days * 8 * 60), start
    if needed == 0:
        while not in_office_hours_or_at_period_end(t):
            t += dt.timedelta(minutes=1)
        return t
    while True:
        if minute_is_working(t):
            needed -= 1
            if needed == 0:
                return t + dt.timedelta(minutes=1)
        t += dt.timedelta(minutes=1)


@settings(max_examples=40, deadline=None)
@given(starts_near_holidays(), st.integers(0, 6).map(lambda k: Decimal(k) / 2))
def test_due_matches_a_minute_by_minute_count(start: dt.datetime, days: Decimal) -> None:
    assert CALENDAR.add_working_days(start, days) == brute_force_due(start, days)


@settings(max_examples=100)
@given(WORKING_DAYS_1990_2100, st.integers(17 * 60, 24 * 60 - 1))
def test_after_hours_start_counts_from_next_morning(day: dt.date, minute: int) -> None:
    start = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), VN_TZ)
    morning = dt.datetime.combine(next_working_day(day), dt.time(7, 30), VN_TZ)
    assert CALENDAR.add_working_days(start, Decimal("0.5")) == morning + dt.timedelta(hours=4)
    assert CALENDAR.working_time_between(start, morning) == dt.timedelta(0)


@settings(max_examples=100)
@given(WORKING_DAYS_1990_2100, st.integers(11 * 60 + 30, 13 * 60))
def test_lunch_break_start_counts_from_1300(day: dt.date, minute: int) -> None:
    start = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), VN_TZ)
    assert CALENDAR.add_working_days(start, "0.5") == dt.datetime.combine(day, dt.time(17), VN_TZ)


# --- deadlines: examples -------------------------------------------------------------------


def test_deadline_on_the_start_of_a_period_is_the_end_of_the_previous_one() -> None:
    monday = vn(2026, 3, 2, 7, 30)
    assert CALENDAR.add_working_days(monday, 1) == vn(2026, 3, 2, 17)
    assert CALENDAR.add_working_days(monday, Decimal("0.5")) == vn(2026, 3, 2, 11, 30)
    assert CALENDAR.add_working_days(vn(2026, 3, 6, 7, 30), 1) == vn(2026, 3, 6, 17)  # not Mon


def test_zero_days() -> None:
    assert CALENDAR.add_working_days(vn(2026, 3, 2, 9), 0) == vn(2026, 3, 2, 9)
    assert CALENDAR.add_working_days(vn(2026, 3, 2, 17), 0) == vn(2026, 3, 2, 17)
    assert CALENDAR.add_working_days(vn(2026, 3, 2, 12), 0) == vn(2026, 3, 2, 13)
    assert CALENDAR.add_working_days(vn(2026, 3, 7, 10), 0) == vn(2026, 3, 9, 7, 30)  # Sat


def test_around_tet_2026() -> None:
    assert CALENDAR.add_working_days(vn(2026, 2, 13, 8), 1) == vn(2026, 2, 23, 8)
    assert CALENDAR.add_working_days(vn(2026, 2, 13, 17, 30), "0.5") == vn(2026, 2, 23, 11, 30)
    assert CALENDAR.add_working_days(vn(2026, 2, 12, 7, 30), 2) == vn(2026, 2, 13, 17)
    assert CALENDAR.add_working_days(vn(2026, 2, 12, 7, 30), 3) == vn(2026, 2, 23, 17)
    assert CALENDAR.working_time_between(
        vn(2026, 2, 13, 17), vn(2026, 2, 23, 7, 30)
    ) == dt.timedelta(0)


def test_around_30_april_and_1_may_2026() -> None:
    # 30/4 Thursday and 1/5 Friday, then the weekend.
    assert CALENDAR.add_working_days(vn(2026, 4, 29, 7, 30), 1) == vn(2026, 4, 29, 17)
    assert CALENDAR.add_working_days(vn(2026, 4, 29, 7, 30), 2) == vn(2026, 5, 4, 17)
    assert CALENDAR.working_time_between(vn(2026, 4, 29, 9), vn(2026, 5, 4, 9)) == work(1)


def test_compensatory_day_for_hung_kings_day_on_a_sunday_2026() -> None:
    # Giỗ Tổ 26/4/2026 is a Sunday; the government gives Monday 27/4 instead.
    assert dt.date(2026, 4, 26).weekday() == 6
    friday = vn(2026, 4, 24, 17)
    assert CALENDAR.add_working_days(friday, 1) == vn(2026, 4, 27, 17)
    calendar = WorkCalendar([DayOverride(dt.date(2026, 4, 27), "compensatory", "Nghỉ bù")])
    assert calendar.add_working_days(friday, 1) == vn(2026, 4, 28, 17)


def test_national_day_2026_with_1_september() -> None:
    assert dt.date(2026, 9, 1).weekday() == 1  # Tuesday
    monday = vn(2026, 8, 31, 7, 30)
    assert CALENDAR.add_working_days(monday, 2) == vn(2026, 9, 3, 17)
    after = WorkCalendar(national_day_extra="after")
    assert after.add_working_days(monday, 2) == vn(2026, 9, 1, 17)
    assert after.add_working_days(monday, 3) == vn(2026, 9, 4, 17)


def test_makeup_saturday_swapped_for_a_monday() -> None:
    # A swap as the government decides some years: off Monday 31/8, work Saturday 29/8.
    calendar = WorkCalendar(
        [
            DayOverride(dt.date(2026, 8, 31), "holiday", "Nghỉ hoán đổi"),
            DayOverride(dt.date(2026, 8, 29), "makeup_workday", "Làm bù"),
        ]
    )
    assert calendar.add_working_days(vn(2026, 8, 28, 7, 30), 2) == vn(2026, 8, 29, 17)
    assert calendar.add_working_days(vn(2026, 8, 28, 7, 30), 3) == vn(2026, 9, 3, 17)


def test_start_in_another_time_zone_is_taken_in_vietnam_time() -> None:
    start = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)  # 07:30 in Hà Nội
    due = CALENDAR.add_working_days(start, 1)
    assert due == vn(2026, 3, 2, 17) and due.utcoffset() == dt.timedelta(hours=7)


@pytest.mark.parametrize(
    ("days", "due"),
    [
        (Decimal("0.25"), vn(2026, 3, 2, 9, 30)),
        ("1.5", vn(2026, 3, 3, 11, 30)),
        (0.1, vn(2026, 3, 2, 8, 18)),  # 48 minutes
        (Decimal("0.75"), vn(2026, 3, 2, 15)),
        (2, vn(2026, 3, 3, 17)),
    ],
)
def test_fractions_of_a_day(days: Decimal | float | str, due: dt.datetime) -> None:
    assert CALENDAR.add_working_days(vn(2026, 3, 2, 7, 30), days) == due


def test_custom_office_hours() -> None:
    calendar = WorkCalendar(office_hours=OfficeHours([(dt.time(8), dt.time(12))]))
    assert calendar.day_length == dt.timedelta(hours=4)
    assert calendar.add_working_days(vn(2026, 3, 2, 13), "0.5") == vn(2026, 3, 3, 10)
    assert calendar.working_time_between(vn(2026, 3, 2), vn(2026, 3, 4)) == dt.timedelta(hours=8)


def test_working_time_between() -> None:
    assert CALENDAR.working_time_between(vn(2026, 3, 2, 10), vn(2026, 3, 2, 14)) == dt.timedelta(
        hours=2, minutes=30
    )
    assert CALENDAR.working_time_between(vn(2026, 3, 6, 16), vn(2026, 3, 9, 8)) == dt.timedelta(
        hours=1, minutes=30
    )
    assert CALENDAR.working_time_between(vn(2026, 3, 9, 8), vn(2026, 3, 6, 16)) == -dt.timedelta(
        hours=1, minutes=30
    )


def test_a_thousand_working_days_is_fast() -> None:
    began = time.perf_counter()
    due = WorkCalendar().add_working_days(vn(2026, 3, 2, 7, 30), 1000)
    assert time.perf_counter() - began < 1.0  # a per-minute loop would take far longer
    assert CALENDAR.working_time_between(vn(2026, 3, 2, 7, 30), due) == work(1000)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "days",
    [
        -1,
        Decimal("-0.5"),
        float("nan"),
        float("inf"),
        "NaN",
        "abc",
        True,
        "0.333",
        Decimal("1.005"),
        10**9,
        None,
    ],
)
def test_bad_number_of_days_is_refused(days: object) -> None:
    with pytest.raises(CalendarError) as caught:
        CALENDAR.add_working_days(vn(2026, 3, 2, 8), days)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.add_working_days(dt.datetime(2026, 3, 2, 8), 1)
    with pytest.raises(ValueError, match="naive"):
        CALENDAR.working_time_between(vn(2026, 3, 2, 8), dt.datetime(2026, 3, 3, 8))


def test_unsupported_years_are_refused() -> None:
    with pytest.raises(CalendarError, match="outside the supported calendar range"):
        CALENDAR.add_working_days(vn(2150, 12, 1, 8), 100)
    with pytest.raises(CalendarError, match="outside the supported calendar range"):
        default_holidays(1900)


def test_bad_overrides_and_office_hours_are_refused() -> None:
    with pytest.raises(CalendarError, match="unknown override kind"):
        DayOverride(dt.date(2026, 1, 2), "day_off", "x")  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="datetime.date"):
        DayOverride(vn(2026, 1, 2), "holiday", "x")
    with pytest.raises(CalendarError, match="two different overrides"):
        WorkCalendar(
            [
                DayOverride(dt.date(2026, 1, 2), "holiday", "a"),
                DayOverride(dt.date(2026, 1, 2), "makeup_workday", "b"),
            ]
        )
    with pytest.raises(CalendarError, match="invalid office period"):
        OfficeHours([(dt.time(8), dt.time(12)), (dt.time(11), dt.time(17))])
    with pytest.raises(CalendarError, match="invalid office period"):
        OfficeHours([(dt.time(12), dt.time(8))])
    with pytest.raises(CalendarError):
        OfficeHours([])
    with pytest.raises(CalendarError, match="'before'"):
        default_holidays(2026, national_day_extra="later")  # type: ignore[arg-type]
