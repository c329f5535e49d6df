"""The working-day calendar through the HTTP API: holidays, deadlines and admin overrides."""

from __future__ import annotations

from typing import Any

from httpx import Response

from tests.conftest import Api

HOLIDAYS = "/api/v1/calendar/holidays"
DUE = "/api/v1/calendar/due"
OVERRIDES = "/api/v1/calendar/overrides"

# Labour Code 2019 art. 112 in 2026: Tết is 29 Chạp Ất Tỵ (16/2) to mùng 4 (20/2); Giỗ Tổ
# (10/3 lunar) falls on Sunday 26/4; the day next to 2/9 defaults to 1/9.
HOLIDAYS_2026 = {
    "2026-01-01": "Tết Dương lịch",
    "2026-02-16": "Tết Nguyên đán",
    "2026-02-17": "Tết Nguyên đán",
    "2026-02-18": "Tết Nguyên đán",
    "2026-02-19": "Tết Nguyên đán",
    "2026-02-20": "Tết Nguyên đán",
    "2026-04-26": "Giỗ Tổ Hùng Vương",
    "2026-04-30": "Ngày Chiến thắng",
    "2026-05-01": "Ngày Quốc tế Lao động",
    "2026-09-01": "Quốc khánh",
    "2026-09-02": "Quốc khánh",
}


def _due(api: Api, headers: dict[str, str], start: str, days: str | float) -> Response:
    return api.client.get(DUE, params={"start": start, "working_days": days}, headers=headers)


def _due_at(api: Api, headers: dict[str, str], start: str, days: str | float) -> str:
    r = _due(api, headers, start, days)
    assert r.status_code == 200, r.text
    due: str = r.json()["due_at"]
    return due


def _fields(body: dict[str, Any]) -> set[str]:
    return {f["field"] for f in body.get("fields", [])}


def _holidays(api: Api, headers: dict[str, str], year: int = 2026) -> dict[str, dict[str, str]]:
    r = api.client.get(HOLIDAYS, params={"year": year}, headers=headers)
    assert r.status_code == 200, r.text
    return {d["date"]: d for d in r.json()}


def test_2026_labour_code_holidays_are_listed_and_the_tet_week_is_skipped(api: Api) -> None:
    h = api.login("tiepnhan")
    r = api.client.get(HOLIDAYS, params={"year": 2026}, headers=h)
    assert r.status_code == 200
    days = r.json()
    assert [d["date"] for d in days] == sorted(HOLIDAYS_2026)
    assert {d["date"]: d["name"] for d in days} == HOLIDAYS_2026
    assert {d["kind"] for d in days} == {"holiday"}
    assert all(set(d) == {"date", "name", "kind"} for d in days)
    # Friday 13/2 09:00 gives 6.5 hours; Tết and the weekend take 16–22/2; Mon 23 and
    # Tue 24 give 16 hours; the last 1.5 hours end Wednesday 25/2 at 09:00.
    assert _due_at(api, h, "2026-02-13T09:00:00+07:00", 3) == "2026-02-25T09:00:00+07:00"
    # The same instant given in UTC lands on the same deadline, reported in Vietnam time.
    assert _due_at(api, h, "2026-02-13T02:00:00Z", 3) == "2026-02-25T09:00:00+07:00"
    # An ordinary week for contrast: three days from Monday 09:00 is Thursday 09:00.
    assert _due_at(api, h, "2026-03-02T09:00:00+07:00", 3) == "2026-03-05T09:00:00+07:00"


def test_half_day_is_four_office_hours_and_after_hours_start_counts_from_next_morning(
    api: Api,
) -> None:
    h = api.login("tiepnhan")
    assert _due_at(api, h, "2026-03-02T07:30:00+07:00", "0.5") == "2026-03-02T11:30:00+07:00"
    # 09:00–11:30 is 2.5 hours; the remaining 1.5 hours start after lunch at 13:00.
    assert _due_at(api, h, "2026-03-02T09:00:00+07:00", "0.5") == "2026-03-02T14:30:00+07:00"
    assert _due_at(api, h, "2026-03-02T07:30:00+07:00", "1.5") == "2026-03-03T11:30:00+07:00"
    # A start during lunch counts from 13:00.
    assert _due_at(api, h, "2026-03-02T12:00:00+07:00", "0.5") == "2026-03-02T17:00:00+07:00"
    next_morning = _due_at(api, h, "2026-03-03T07:30:00+07:00", 1)
    assert next_morning == "2026-03-03T17:00:00+07:00"
    assert _due_at(api, h, "2026-03-02T18:00:00+07:00", 1) == next_morning
    # 11:00 UTC is 18:00 in Vietnam: after hours there even though it is midday in UTC.
    assert _due_at(api, h, "2026-03-02T11:00:00Z", 1) == next_morning
    # Friday evening → Monday morning.
    assert _due_at(api, h, "2026-03-06T17:30:00+07:00", "0.5") == "2026-03-09T11:30:00+07:00"


def test_calendar_wants_a_token_and_names_the_bad_field_in_a_422(api: Api) -> None:
    assert api.client.get(HOLIDAYS, params={"year": 2026}).status_code == 401
    r = _due(api, {}, "2026-02-13T09:00:00+07:00", 3)
    assert r.status_code == 401
    assert r.json()["error"] == "not_authenticated"
    h = api.login("tiepnhan")
    for year in ("1800", "3000", "năm"):
        r = api.client.get(HOLIDAYS, params={"year": year}, headers=h)
        assert r.status_code == 422, year
        assert _fields(r.json()) == {"year"}
    start = "2026-03-02T09:00:00+07:00"
    for params, field in [
        ({"start": start, "working_days": "-1"}, "working_days"),
        ({"start": start, "working_days": "ba"}, "working_days"),
        ({"start": start, "working_days": "NaN"}, "working_days"),
        ({"start": start, "working_days": "0.125"}, "working_days"),
        ({"start": "yesterday", "working_days": "1"}, "start"),
        ({"working_days": "1"}, "start"),
        ({"start": start}, "working_days"),
    ]:
        r = api.client.get(DUE, params=params, headers=h)
        assert r.status_code == 422, params
        assert field in _fields(r.json()), (params, r.json())
    # Valid syntax the calendar cannot use: no offset, or a year outside the lunar tables.
    for bad_start in ("2026-03-02T09:00:00", "2026-03-02", "2200-01-05T09:00:00+07:00"):
        r = _due(api, h, bad_start, 1)
        assert r.status_code == 422, bad_start
        assert r.json()["fields"], bad_start


def test_naive_or_out_of_range_start_is_422_naming_start(api: Api) -> None:
    h = api.login("tiepnhan")
    for bad_start in ("2026-03-02T09:00:00", "2200-01-05T09:00:00+07:00"):
        r = _due(api, h, bad_start, 1)
        assert r.status_code == 422
        assert _fields(r.json()) == {"start"}, (bad_start, r.json())


def test_makeup_saturday_counts_as_working_day_in_due_date(api: Api) -> None:
    h = api.login("admin")
    friday = "2026-03-06T09:00:00+07:00"
    assert _due_at(api, h, friday, 1) == "2026-03-09T09:00:00+07:00"
    r = api.client.post(
        OVERRIDES,
        json={"date": "2026-03-07", "kind": "makeup_workday", "name": "Làm bù"},
        headers=h,
    )
    assert r.status_code == 201
    assert r.json() == {"date": "2026-03-07", "name": "Làm bù", "kind": "makeup_workday"}
    assert _holidays(api, h)["2026-03-07"]["kind"] == "makeup_workday"
    assert _due_at(api, h, friday, 1) == "2026-03-07T09:00:00+07:00"
    # A government decision swapping 1/9 for a make-up day: 1/9 becomes a working day.
    r = api.client.post(
        OVERRIDES,
        json={"date": "2026-09-01", "kind": "makeup_workday", "name": "Đổi ngày nghỉ"},
        headers=h,
    )
    assert r.status_code == 201
    r = api.client.get(HOLIDAYS, params={"year": 2026}, headers=h)
    on_date = [d for d in r.json() if d["date"] == "2026-09-01"]
    assert on_date == [{"date": "2026-09-01", "name": "Đổi ngày nghỉ", "kind": "makeup_workday"}]
    # Monday 31/8 09:00 + 1 day: Tuesday 1/9 is now worked.
    assert _due_at(api, h, "2026-08-31T09:00:00+07:00", 1) == "2026-09-01T09:00:00+07:00"


def test_compensatory_monday_is_skipped_and_a_second_decision_for_it_is_409(api: Api) -> None:
    h = api.login("admin")
    friday = "2026-04-24T09:00:00+07:00"
    assert _due_at(api, h, friday, 1) == "2026-04-27T09:00:00+07:00"
    r = api.client.post(
        OVERRIDES,
        json={"date": "2026-04-27", "kind": "compensatory", "name": "Nghỉ bù Giỗ Tổ"},
        headers=h,
    )
    assert r.status_code == 201
    listed = _holidays(api, h)
    assert listed["2026-04-27"] == {
        "date": "2026-04-27",
        "name": "Nghỉ bù Giỗ Tổ",
        "kind": "compensatory",
    }
    assert listed["2026-04-26"]["kind"] == "holiday"  # the computed day itself stays
    assert _due_at(api, h, friday, 1) == "2026-04-28T09:00:00+07:00"
    # A second decision for the same date is refused and the first one stays.
    r = api.client.post(
        OVERRIDES,
        json={"date": "2026-04-27", "kind": "makeup_workday", "name": "Làm bù"},
        headers=h,
    )
    assert r.status_code == 409
    assert r.json()["error"] == "duplicate_override"
    assert _holidays(api, h)["2026-04-27"]["kind"] == "compensatory"
    assert _due_at(api, h, friday, 1) == "2026-04-28T09:00:00+07:00"


def test_deleted_override_stops_counting_and_second_delete_is_404(api: Api) -> None:
    h = api.login("admin")
    monday = "2026-03-09T09:00:00+07:00"
    r = api.client.post(
        OVERRIDES,
        json={"date": "2026-03-10", "kind": "holiday", "name": "Ngày nghỉ đặc biệt"},
        headers=h,
    )
    assert r.status_code == 201
    assert _due_at(api, h, monday, 1) == "2026-03-11T09:00:00+07:00"
    r = api.client.delete(f"{OVERRIDES}/2026-03-10", headers=h)
    assert r.status_code == 204
    assert r.content == b""
    assert "2026-03-10" not in _holidays(api, h)
    assert _due_at(api, h, monday, 1) == "2026-03-10T09:00:00+07:00"
    again = api.client.delete(f"{OVERRIDES}/2026-03-10", headers=h)
    assert again.status_code == 404
    # A computed holiday is not an override: nothing to delete there either.
    assert api.client.delete(f"{OVERRIDES}/2026-04-30", headers=h).status_code == 404
    assert api.client.delete(f"{OVERRIDES}/ngay-mai", headers=h).status_code == 422


def test_overrides_are_for_admins_only_and_validated(api: Api) -> None:
    body = {"date": "2026-03-10", "kind": "holiday", "name": "Nghỉ"}
    assert api.client.post(OVERRIDES, json=body).status_code == 401
    specialist = api.login("chuyenvien")
    r = api.client.post(OVERRIDES, json=body, headers=specialist)
    assert r.status_code == 403
    assert r.json()["error"] == "role_required"
    admin = api.login("admin")
    assert api.client.post(OVERRIDES, json=body, headers=admin).status_code == 201
    assert api.client.delete(f"{OVERRIDES}/2026-03-10", headers=specialist).status_code == 403
    assert api.client.delete(f"{OVERRIDES}/2026-03-10").status_code == 401
    # Everyone reads the admin's decision.
    assert _due_at(api, specialist, "2026-03-09T09:00:00+07:00", 1) == "2026-03-11T09:00:00+07:00"
    assert "2026-03-10" in _holidays(api, admin)
    for bad, field in [
        ({**body, "date": "2026-03-11", "kind": "weekend"}, "kind"),
        ({**body, "date": "2026-02-30"}, "date"),
        ({**body, "date": "2026-03-11", "name": "   "}, "name"),
        ({**body, "date": "2026-03-11", "colour": "red"}, "colour"),
    ]:
        r = api.client.post(OVERRIDES, json=bad, headers=admin)
        assert r.status_code == 422, bad
        assert field in _fields(r.json()), (bad, r.json())
    assert "2026-03-11" not in _holidays(api, admin)


def test_override_outside_the_calendar_years_is_422_naming_date(api: Api) -> None:
    h = api.login("admin")
    r = api.client.post(
        OVERRIDES, json={"date": "1800-01-01", "kind": "holiday", "name": "Nghỉ"}, headers=h
    )
    assert r.status_code == 422
    assert _fields(r.json()) == {"date"}
