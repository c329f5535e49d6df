"""Processing days of a procedure: strictly a positive multiple of half a day, at most a year;
and one stored row the rules refuse never breaks the catalogue list."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Procedure
from tests.conftest import Api


def _body(api: Api, code: str, days: Any) -> dict[str, Any]:
    first = api.client.get("/api/v1/procedures?limit=1", headers=api.login("thietke")).json()
    return {**first["items"][0], "code": code, "processing_days": days}


@pytest.mark.parametrize(
    "days", ["1e-999999999", "0.25", 0.1, "1E+999999999", "366", "NaN", "Infinity", "-0.5", "0"]
)
def test_processing_days_out_of_rule_is_422_naming_the_field(api: Api, days: Any) -> None:
    h = api.login("thietke")
    r = api.client.post("/api/v1/procedures", json=_body(api, "9.100300", days), headers=h)
    assert r.status_code == 422, r.text
    assert [f["field"] for f in r.json()["fields"]] == ["processing_days"]
    assert api.client.get("/api/v1/procedures/9.100300", headers=h).status_code == 404


@pytest.mark.parametrize("days", ["0.5", 15, "2.50", 365])
def test_half_and_whole_days_up_to_a_year_are_accepted(api: Api, days: Any) -> None:
    r = api.client.post(
        "/api/v1/procedures", json=_body(api, "9.100301", days), headers=api.login("thietke")
    )
    assert r.status_code == 201, r.text


def test_a_stored_row_the_rules_refuse_does_not_break_the_list(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    h = api.login("tiepnhan")
    codes = [
        p["code"] for p in api.client.get("/api/v1/procedures?limit=200", headers=h).json()["items"]
    ]
    with sessions.begin() as s:  # as the underflow bug stored it
        s.execute(update(Procedure).where(Procedure.code == codes[0]).values(processing_days=0))
    r = api.client.get("/api/v1/procedures?limit=200", headers=h)
    assert r.status_code == 200, r.text
    assert [p["code"] for p in r.json()["items"]] == codes
    assert api.client.get(f"/api/v1/procedures/{codes[0]}", headers=h).status_code == 200
