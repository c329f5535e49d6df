"""Vietnamese lunar calendar (âm lịch), computed for Vietnam time (UTC+7).

Hồ Ngọc Đức's public algorithm: new moons and the sun's longitude come from Meeus's
low-precision formulas; a lunar month begins on the local (UTC+7) day of a new moon;
month 11 is the month that contains the winter solstice; when 13 months lie between
two months 11, the first month without a major solar term (sun longitude a multiple
of 30°) is the leap month and repeats the number of the month before it.

Computed at UTC+8 the same rules give the Chinese calendar, which differs from the
Vietnamese one in some years (Tết 2007: 17/02 in Vietnam, 18/02 in China), so a
Chinese-calendar package must not be used for Vietnamese holidays.

Supported solar years: MIN_YEAR..MAX_YEAR. Vietnam has computed its lunar calendar for
UTC+7 since the decree of 08/08/1967 (before, and in the South until 1975, it followed
UTC+8). The tests check every month against precise astronomy (ephem): Tết and 10/3
agree in every supported year; four month starts after 2070 (in 2072, 2077, 2130, 2150)
come out a day late because their new moon falls within two minutes of midnight, closer
than the precision of these formulas and of ΔT forecasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "LunarDate",
    "LunarDateError",
    "lunar_to_solar",
    "solar_to_lunar",
]

MIN_YEAR = 1968
MAX_YEAR = 2150
TIME_ZONE = 7  # hours east of UTC

_JD_MINUS_ORDINAL = 1721425  # Julian day number of a date minus its date.toordinal()
_SYNODIC_MONTH = 29.530588853
_NEW_MOON_0 = 2415021.076998695  # Julian day of the new moon of 1900-01-01 (k = 0)
_DEG = math.pi / 180

# (lunar year, month, leap, Julian day number of its first day, length in days)
_Month = tuple[int, int, bool, int, int]


class LunarDateError(ValueError):
    """A lunar date that does not exist, or a date outside the years MIN_YEAR..MAX_YEAR."""


@dataclass(frozen=True)
class LunarDate:
    """A day of the Vietnamese lunar calendar; `leap` marks the leap month (tháng nhuận)."""

    year: int
    month: int
    day: int
    leap: bool = False


def _new_moon(k: int) -> float:
    """Julian day (UT) of the k-th new moon after 1900-01-01, Meeus ch. 49 (low precision)."""
    t = k / 1236.85
    t2 = t * t
    t3 = t2 * t
    jd = 2415020.75933 + 29.53058868 * k + 0.0001178 * t2 - 0.000000155 * t3
    jd += 0.00033 * math.sin((166.56 + 132.87 * t - 0.009173 * t2) * _DEG)
    m = (359.2242 + 29.10535608 * k - 0.0000333 * t2 - 0.00000347 * t3) * _DEG  # sun anomaly
    mp = (306.0253 + 385.81691806 * k + 0.0107306 * t2 + 0.00001236 * t3) * _DEG  # moon anomaly
    f = (21.2964 + 390.67050646 * k - 0.0016528 * t2 - 0.00000239 * t3) * _DEG  # moon latitude
    c = (0.1734 - 0.000393 * t) * math.sin(m) + 0.0021 * math.sin(2 * m)
    c += -0.4068 * math.sin(mp) + 0.0161 * math.sin(2 * mp) - 0.0004 * math.sin(3 * mp)
    c += 0.0104 * math.sin(2 * f) - 0.0051 * math.sin(m + mp) - 0.0074 * math.sin(m - mp)
    c += 0.0004 * math.sin(2 * f + m) - 0.0004 * math.sin(2 * f - m)
    c += -0.0006 * math.sin(2 * f + mp) + 0.0010 * math.sin(2 * f - mp)
    c += 0.0005 * math.sin(2 * mp + m)
    if t < -11:
        delta_t = 0.001 + 0.000839 * t + 0.0002261 * t2 - 0.00000845 * t3 - 0.000000081 * t * t3
    else:
        delta_t = -0.000278 + 0.000265 * t + 0.000262 * t2
    return jd + c - delta_t


@lru_cache(maxsize=8192)
def _new_moon_day(k: int) -> int:
    """Julian day number of the local (UTC+7) day on which the k-th new moon falls."""
    return math.floor(_new_moon(k) + 0.5 + TIME_ZONE / 24)


def _major_term(day: int) -> int:
    """Index 0..11 of the 30° sector holding the sun at local midnight opening `day`."""
    t = (day - 0.5 - TIME_ZONE / 24 - 2451545.0) / 36525  # centuries since J2000
    t2 = t * t
    m = (357.52910 + 35999.05030 * t - 0.0001559 * t2 - 0.00000048 * t * t2) * _DEG
    mean_longitude = 280.46645 + 36000.76983 * t + 0.0003032 * t2
    center = (1.914600 - 0.004817 * t - 0.000014 * t2) * math.sin(m)
    center += (0.019993 - 0.000101 * t) * math.sin(2 * m) + 0.000290 * math.sin(3 * m)
    return math.floor(((mean_longitude + center) % 360) / 30) % 12


@lru_cache(maxsize=1024)
def _month11(year: int) -> int:
    """Julian day number of the first day of lunar month 11 of solar `year`."""
    k = math.floor((date(year, 12, 31).toordinal() + _JD_MINUS_ORDINAL - 2415021) / _SYNODIC_MONTH)
    start = _new_moon_day(k)
    # Sun already at or past 270° when this month begins: the solstice fell in the month before.
    if _major_term(start) >= 9:
        start = _new_moon_day(k - 1)
    return start


@lru_cache(maxsize=1024)
def _cycle(year: int) -> tuple[_Month, ...]:
    """Months from month 11 of `year` up to (not including) month 11 of `year + 1`."""
    first, after = _month11(year), _month11(year + 1)
    k = math.floor((first - _NEW_MOON_0) / _SYNODIC_MONTH + 0.5)
    count = 13 if after - first > 365 else 12
    starts = [_new_moon_day(k + i) for i in range(count)] + [after]
    leap_at = -1
    if count == 13:
        # Month i has no major term when the sun's sector is unchanged across it; the
        # fallback 12 is never needed in the supported years (the tests check them all).
        leap_at = next(
            (i for i in range(1, 13) if _major_term(starts[i]) == _major_term(starts[i + 1])), 12
        )
    months: list[_Month] = []
    number, lunar_year = 11, year
    for i in range(count):
        if i > 0 and i != leap_at:
            number = number % 12 + 1
            if number == 1:
                lunar_year = year + 1
        months.append((lunar_year, number, i == leap_at, starts[i], starts[i + 1] - starts[i]))
    return tuple(months)


def solar_to_lunar(d: date) -> LunarDate:
    """Convert a solar (Gregorian) date to the Vietnamese lunar date.

    Raises LunarDateError (a ValueError) when `d.year` is outside MIN_YEAR..MAX_YEAR.
    """
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise LunarDateError(
            f"Năm {d.year} nằm ngoài phạm vi âm lịch hỗ trợ ({MIN_YEAR}–{MAX_YEAR}) / "
            f"year {d.year} is outside the supported lunar range {MIN_YEAR}–{MAX_YEAR}"
        )
    jd = d.toordinal() + _JD_MINUS_ORDINAL
    cycle = _cycle(d.year if jd >= _month11(d.year) else d.year - 1)
    for lunar_year, month, leap, start, length in cycle:
        if start <= jd < start + length:
            return LunarDate(lunar_year, month, jd - start + 1, leap)
    raise AssertionError(f"no lunar month holds {d}")  # months of a cycle tile it


def lunar_to_solar(year: int, month: int, day: int, leap: bool = False) -> date:
    """Convert a Vietnamese lunar date to the solar (Gregorian) date.

    Raises LunarDateError (a ValueError) for a date that does not exist (month 1..12,
    day beyond the month's 29 or 30 days, a leap month the year does not have) or one
    whose solar date falls outside the years MIN_YEAR..MAX_YEAR.
    """
    label = f"{day}/{month}{' nhuận' if leap else ''}/{year}"
    # Lunar year MIN_YEAR - 1 ends in solar MIN_YEAR; the result's year is checked below.
    if not MIN_YEAR - 1 <= year <= MAX_YEAR:
        raise _out_of_range(label)
    if not 1 <= month <= 12 or not 1 <= day <= 30:
        raise LunarDateError(
            f"Ngày âm lịch {label} không tồn tại: tháng 1–12, ngày 1–30 / "
            f"lunar date {label} does not exist: month must be 1–12 and day 1–30"
        )
    cycle = _cycle(year if month >= 11 else year - 1)
    for lunar_year, number, is_leap, start, length in cycle:
        if (lunar_year, number, is_leap) == (year, month, leap):
            if day > length:
                raise LunarDateError(
                    f"Ngày âm lịch {label} không tồn tại: tháng này chỉ có {length} ngày / "
                    f"lunar date {label} does not exist: that month has {length} days"
                )
            solar = date.fromordinal(start + day - 1 - _JD_MINUS_ORDINAL)
            if not MIN_YEAR <= solar.year <= MAX_YEAR:
                raise _out_of_range(label)
            return solar
    leap_months = [
        str(m[1]) for c in (_cycle(year - 1), _cycle(year)) for m in c if m[0] == year and m[2]
    ]
    has_vi = f"có tháng {leap_months[0]} nhuận" if leap_months else "không có tháng nhuận"
    has_en = f"leap month {leap_months[0]}" if leap_months else "no leap month"
    raise LunarDateError(
        f"Ngày âm lịch {label} không tồn tại: năm {year} {has_vi} / "
        f"lunar date {label} does not exist: year {year} has {has_en}"
    )


def _out_of_range(label: str) -> LunarDateError:
    return LunarDateError(
        f"Ngày âm lịch {label} nằm ngoài phạm vi hỗ trợ (dương lịch {MIN_YEAR}–{MAX_YEAR}) / "
        f"lunar date {label} is outside the supported range (solar years {MIN_YEAR}–{MAX_YEAR})"
    )
