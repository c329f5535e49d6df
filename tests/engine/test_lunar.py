"""Vietnamese lunar calendar, checked against an independent astronomical computation.

The reference below uses ephem's precise new moons and apparent solar longitudes and the
textbook rules (month 11 holds the winter solstice; in a 13-month year the first month
without a major solar term is the leap month), with dates taken in a chosen time zone.
It shares no code or formula with engine.lunar.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

import ephem
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lunar import (
    MAX_YEAR,
    MIN_YEAR,
    LunarDate,
    LunarDateError,
    lunar_to_solar,
    solar_to_lunar,
)

# --- independent reference (ephem) ------------------------------------------------------


def _local_date(instant: float, tz_hours: int) -> dt.date:
    return ephem.Date(instant + tz_hours / 24).datetime().date()


def _sun_longitude(instant: float) -> float:
    """Apparent geocentric ecliptic longitude of the sun, degrees, equinox of date."""
    sun = ephem.Sun()
    sun.compute(ephem.Date(instant))
    of_date = ephem.Date(instant)
    equatorial = ephem.Equatorial(sun.ra, sun.dec, epoch=of_date)
    return math.degrees(ephem.Ecliptic(equatorial, epoch=of_date).lon)


def _major_term_dates(first: dt.date, last: dt.date, tz_hours: int) -> list[dt.date]:
    """Local dates on which the sun reaches a multiple of 30° between two dates."""
    instant = ephem.Date(dt.datetime(first.year, first.month, first.day))
    target = (math.floor(_sun_longitude(instant) / 30) + 1) * 30 % 360
    found = []
    while True:
        guess = instant + ((target - _sun_longitude(instant)) % 360) / 0.9856

        def offset(t: float, target: float = target) -> float:
            return (_sun_longitude(t) - target + 180) % 360 - 180

        term = ephem.newton(offset, guess, guess + 0.5)
        if _local_date(term, tz_hours) > last:
            return found
        found.append(_local_date(term, tz_hours))
        instant, target = ephem.Date(term + 1), (target + 30) % 360


def _new_moon_dates(first: dt.date, last: dt.date, tz_hours: int) -> list[dt.date]:
    instant = ephem.Date(dt.datetime(first.year, first.month, first.day))
    found = []
    while True:
        instant = ephem.next_new_moon(instant)
        if _local_date(instant, tz_hours) > last:
            return found
        found.append(_local_date(instant, tz_hours))
        instant = ephem.Date(instant + 1)


@cache
def _reference_cycle(year: int, tz_hours: int) -> tuple[tuple[int, int, bool, dt.date], ...]:
    """(lunar year, month, leap, first day) from month 11 of `year` to before month 11 of
    `year + 1`, computed with ephem for a time zone."""
    moons = _new_moon_dates(dt.date(year, 10, 15), dt.date(year + 2, 1, 31), tz_hours)

    def month11(y: int) -> dt.date:
        solstice = _local_date(ephem.next_solstice(f"{y}/12/1"), tz_hours)
        return max(m for m in moons if m <= solstice)

    first, after = month11(year), month11(year + 1)
    starts = [m for m in moons if first <= m <= after]
    terms = _major_term_dates(first, after, tz_hours)
    leap_at = None
    if len(starts) == 14:  # 13 months between the two months 11
        leap_at = next(
            i for i in range(1, 13) if not any(starts[i] <= t < starts[i + 1] for t in terms)
        )
    months, number, lunar_year = [], 11, year
    for i in range(len(starts) - 1):
        if i and i != leap_at:
            number = number % 12 + 1
            lunar_year = year + 1 if number <= 10 else lunar_year
        months.append((lunar_year, number, i == leap_at, starts[i]))
    return tuple(months)


def _reference_day(year: int, month: int, day: int, tz_hours: int = 7) -> dt.date:
    """Solar date of a (non-leap) lunar day, from the ephem reference."""
    cycle = _reference_cycle(year if month >= 11 else year - 1, tz_hours)
    start = next(s for (y, m, leap, s) in cycle if (y, m, leap) == (year, month, False))
    return start + dt.timedelta(days=day - 1)


# --- against the reference ----------------------------------------------------------------


@pytest.mark.parametrize("year", range(MIN_YEAR, MAX_YEAR + 1))
def test_tet_and_hung_kings_day_match_astronomy_in_utc7(year: int) -> None:
    assert lunar_to_solar(year, 1, 1) == _reference_day(year, 1, 1)
    assert lunar_to_solar(year, 3, 10) == _reference_day(year, 3, 10)


def _minutes_between_new_moon_and_midnight(day: dt.date) -> float:
    """Minutes between the new moon that opens `day` and the nearest midnight, UTC+7."""
    search_from = ephem.Date(dt.datetime(day.year, day.month, day.day) - dt.timedelta(days=2))
    local = ephem.next_new_moon(search_from).datetime() + dt.timedelta(hours=7)
    minutes = local.hour * 60 + local.minute + local.second / 60
    return min(minutes, 24 * 60 - minutes)


@pytest.mark.parametrize("year", range(MIN_YEAR - 1, MAX_YEAR))
def test_every_month_start_and_leap_month_match_astronomy(year: int) -> None:
    for lunar_year, month, leap, start in _reference_cycle(year, 7):
        if start.year < MIN_YEAR:
            continue  # month 11 and 12 of 1967 start before the supported range
        if solar_to_lunar(start) != LunarDate(lunar_year, month, 1, leap):
            # Tolerated only when the new moon is within minutes of midnight: closer than
            # the error of the algorithm's low-precision formulas and of ΔT forecasts.
            # This happens in 2072, 2077, 2130 and 2150, never for Tết or 10/3.
            assert year >= 2050
            assert _minutes_between_new_moon_and_midnight(start) < 5
            continue
        assert lunar_to_solar(lunar_year, month, 1, leap) == start


def test_reference_sun_longitude_is_270_degrees_at_the_solstice() -> None:
    # Guards the reference itself: a wrong equinox or epoch would shift every term.
    solstice = ephem.next_solstice("2100/12/1")
    assert _sun_longitude(solstice) == pytest.approx(270, abs=1e-4)


# --- Vietnam (UTC+7) is not China (UTC+8) -----------------------------------------------

CALENDARS_DIFFER = [
    # year, Tết in Vietnam, Tết in China
    (2007, dt.date(2007, 2, 17), dt.date(2007, 2, 18)),
    (2030, dt.date(2030, 2, 2), dt.date(2030, 2, 3)),
    (2053, dt.date(2053, 2, 18), dt.date(2053, 2, 19)),
]


@pytest.mark.parametrize(("year", "vietnam", "china"), CALENDARS_DIFFER)
def test_tet_differs_from_the_chinese_new_year(year: int, vietnam: dt.date, china: dt.date) -> None:
    assert _reference_day(year, 1, 1, tz_hours=7) == vietnam
    assert _reference_day(year, 1, 1, tz_hours=8) == china
    assert lunar_to_solar(year, 1, 1) == vietnam
    assert solar_to_lunar(vietnam) == LunarDate(year, 1, 1, False)
    assert solar_to_lunar(china) == LunarDate(year, 1, 2, False)


def test_tet_2007_new_moon_falls_between_midnight_in_hanoi_and_in_beijing() -> None:
    new_moon = ephem.next_new_moon("2007/2/10").datetime()  # UTC
    assert dt.datetime(2007, 2, 17, 16) <= new_moon < dt.datetime(2007, 2, 17, 17)
    assert (new_moon + dt.timedelta(hours=7)).date() == dt.date(2007, 2, 17)
    assert (new_moon + dt.timedelta(hours=8)).date() == dt.date(2007, 2, 18)


# --- known values --------------------------------------------------------------------------

KNOWN = [
    # year, Tết (1/1), Giỗ Tổ Hùng Vương (10/3)
    (2024, dt.date(2024, 2, 10), dt.date(2024, 4, 18)),
    (2025, dt.date(2025, 1, 29), dt.date(2025, 4, 7)),
    (2026, dt.date(2026, 2, 17), dt.date(2026, 4, 26)),
    (2027, dt.date(2027, 2, 6), dt.date(2027, 4, 16)),
    (2028, dt.date(2028, 1, 26), dt.date(2028, 4, 4)),
    (2029, dt.date(2029, 2, 13), dt.date(2029, 4, 23)),
    (2030, dt.date(2030, 2, 2), dt.date(2030, 4, 12)),
    (2031, dt.date(2031, 1, 23), dt.date(2031, 4, 1)),
]


@pytest.mark.parametrize(("year", "tet", "hung_kings"), KNOWN)
def test_known_tet_and_hung_kings_days(year: int, tet: dt.date, hung_kings: dt.date) -> None:
    assert lunar_to_solar(year, 1, 1) == tet
    assert lunar_to_solar(year, 3, 10) == hung_kings
    assert solar_to_lunar(tet) == LunarDate(year, 1, 1, False)
    assert solar_to_lunar(hung_kings) == LunarDate(year, 3, 10, False)


def test_last_day_of_at_ty_is_2026_02_16() -> None:
    assert solar_to_lunar(dt.date(2026, 2, 16)) == LunarDate(2025, 12, 29, False)


def test_leap_months() -> None:
    # Ất Tỵ 2025 has a leap 6th month, Quý Mão 2023 a leap 2nd month.
    assert lunar_to_solar(2025, 6, 1, leap=True) == dt.date(2025, 7, 25)
    assert solar_to_lunar(dt.date(2025, 7, 25)) == LunarDate(2025, 6, 1, True)
    assert lunar_to_solar(2023, 2, 1, leap=True) == dt.date(2023, 3, 22)
    assert lunar_to_solar(2023, 3, 10) == dt.date(2023, 4, 29)


# --- round trips and errors ---------------------------------------------------------------

SUPPORTED_DAYS = st.dates(dt.date(MIN_YEAR, 1, 1), dt.date(MAX_YEAR, 12, 31))


@settings(max_examples=500)
@given(SUPPORTED_DAYS)
def test_solar_lunar_solar_round_trip(d: dt.date) -> None:
    lunar = solar_to_lunar(d)
    assert 1 <= lunar.month <= 12 and 1 <= lunar.day <= 30
    assert lunar_to_solar(lunar.year, lunar.month, lunar.day, lunar.leap) == d


@settings(max_examples=300)
@given(SUPPORTED_DAYS.filter(lambda d: d < dt.date(MAX_YEAR, 12, 31)))
def test_next_solar_day_is_next_lunar_day_or_a_new_month(d: dt.date) -> None:
    today, tomorrow = solar_to_lunar(d), solar_to_lunar(d + dt.timedelta(days=1))
    if tomorrow.day == 1:
        assert today.day in (29, 30)
        assert tomorrow.year in (today.year, today.year + 1)
    else:
        assert tomorrow == LunarDate(today.year, today.month, today.day + 1, today.leap)


@pytest.mark.parametrize(
    ("year", "month", "day", "leap", "message"),
    [
        (2026, 2, 30, False, "29 days"),  # month 2 of Bính Ngọ has 29 days
        (2025, 5, 1, True, "leap month 6"),
        (2026, 6, 1, True, "no leap month"),
        (2025, 13, 1, False, "month must be 1–12"),
        (2025, 1, 0, False, "day 1–30"),
        (MAX_YEAR + 1, 1, 1, False, "outside the supported range"),
        (MIN_YEAR - 1, 1, 1, False, "outside the supported range"),
    ],
)
def test_nonexistent_lunar_dates_are_refused(
    year: int, month: int, day: int, leap: bool, message: str
) -> None:
    with pytest.raises(LunarDateError, match=message) as caught:
        lunar_to_solar(year, month, day, leap)
    assert isinstance(caught.value, ValueError)


def test_solar_dates_outside_the_range_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the supported lunar range"):
        solar_to_lunar(dt.date(MAX_YEAR + 1, 1, 1))
    with pytest.raises(ValueError, match="outside the supported lunar range"):
        solar_to_lunar(dt.date(MIN_YEAR - 1, 12, 31))
