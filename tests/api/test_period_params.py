"""Datetimes from the query string: without a time zone (or unreadable) they are a 422 that
names the parameter, never a 500; with an offset they are used as given."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

NAIVE = "2026-01-01T00:00:00"
AWARE = "2026-01-01T00:00:00+07:00"
LATER = "2027-01-01T00:00:00+07:00"

# (path, user, the other parameters a call needs, the datetime parameters it takes)
ROUTES = [
    ("/api/v1/documents", "vanthu", {}, ("from", "to")),
    ("/api/v1/dossiers", "tiepnhan", {}, ("from", "to")),
    ("/api/v1/dossier-register", "tiepnhan", {"from": AWARE, "to": LATER}, ("from", "to")),
    ("/api/v1/stats/timeliness", "lanhdao", {}, ("from", "to")),
    ("/api/v1/calendar/due", "tiepnhan", {"start": AWARE, "working_days": 1}, ("start",)),
]
CASES = [(path, user, base, name) for path, user, base, names in ROUTES for name in names]


def _get(api: Api, path: str, user: str, params: dict[str, Any]) -> Any:
    return api.client.get(path, params=params, headers=api.login(user))


def _fields(body: dict[str, Any]) -> set[str]:
    return {f["field"] for f in body.get("fields") or []}


@pytest.mark.parametrize(("path", "user", "base", "name"), CASES)
def test_datetime_without_time_zone_is_422_naming_the_parameter(
    api: Api, path: str, user: str, base: dict[str, Any], name: str
) -> None:
    r = _get(api, path, user, base | {name: NAIVE})
    assert r.status_code == 422, (path, name, r.text)
    body = r.json()
    assert _fields(body) == {name}, body
    assert name in body["detail"] and " / " in body["detail"], body  # Vietnamese / English


@pytest.mark.parametrize(("path", "user", "base", "name"), CASES)
def test_unreadable_datetime_is_422_naming_the_parameter(
    api: Api, path: str, user: str, base: dict[str, Any], name: str
) -> None:
    r = _get(api, path, user, base | {name: "tomorrow"})
    assert r.status_code == 422, (path, name, r.text)
    assert _fields(r.json()) == {name}, r.json()


@pytest.mark.parametrize(("path", "user", "base", "name"), CASES)
def test_datetime_with_an_offset_is_accepted(
    api: Api, path: str, user: str, base: dict[str, Any], name: str
) -> None:
    value = LATER if name == "to" else AWARE
    r = _get(api, path, user, base | {name: value})
    assert r.status_code == 200, (path, name, r.text)


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00"], ids=["year1", "year9999"]
)
@pytest.mark.parametrize(("path", "user", "base", "name"), CASES[:-1])  # not calendar's start
def test_datetime_outside_the_storable_years_is_422_not_500(
    api: Api, path: str, user: str, base: dict[str, Any], name: str, value: str
) -> None:
    # In UTC these fall before year 1 or after year 9999, which no database column holds.
    r = _get(api, path, user, base | {name: value})
    assert r.status_code == 422, (path, name, r.text)
    # (the register may first find the period the wrong way round: also a 422)
    assert r.json()["error"] in ("value_out_of_range", "invalid_input"), r.json()
    assert " / " in r.json()["detail"], r.json()  # Vietnamese / English


def test_document_list_filters_by_a_period_with_offsets(api: Api) -> None:
    h = api.login("vanthu")
    paper = {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "125",
        "issued_date": "2026-01-05",
        "issuer": {"code": "000.00.00.H99", "name": "UBND tỉnh Lam Sơn"},
        "subject": "Về việc triển khai chuyển đổi số cấp xã",
    }
    assert api.client.post("/api/v1/documents", json=paper, headers=h).status_code == 201
    every = api.client.get("/api/v1/documents", headers=h).json()["total"]
    assert every >= 1
    wide = {"from": "2000-01-01T00:00:00+07:00", "to": "2100-01-01T00:00:00Z"}
    before = {"from": "2000-01-01T00:00:00+07:00", "to": "2000-01-02T00:00:00-05:00"}
    r = api.client.get("/api/v1/documents", params=wide, headers=h)
    assert r.status_code == 200 and r.json()["total"] == every, r.text
    r = api.client.get("/api/v1/documents", params=before, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 0, r.text
