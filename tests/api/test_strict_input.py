"""Wrong JSON types are refused, not coerced, and a NUL character never reaches the database:
each is a 422 naming the field, alike on SQLite and PostgreSQL, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_bad_input import _row_counts
from tests.conftest import Api

APPLICANT = {"full_name": "Trần Thị Bình", "id_number": "001190004321", "phone": "0987654321"}


def _reception(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "procedure_code": "1.001193",
        "applicant": dict(APPLICANT),
        "channel": "counter",
        "complete": True,
    }
    body.update(changes)
    return body


def _refused(api: Api, r: Any, field: str, code: str = "invalid_input") -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == code, body
    if field:
        assert field in [f["field"] for f in body["fields"]], body


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_complete_must_be_a_json_boolean(api: Api, value: Any) -> None:
    headers = api.login("tiepnhan")
    before = _row_counts(api)
    r = api.client.post("/api/v1/dossiers", json=_reception(complete=value), headers=headers)
    _refused(api, r, "complete")
    assert _row_counts(api) == before


@pytest.mark.parametrize("field", ["full_name", "address"])
def test_a_nul_character_in_the_applicant_is_refused_naming_the_field(api: Api, field: str) -> None:
    headers = api.login("tiepnhan")
    before = _row_counts(api)
    applicant = APPLICANT | {field: "Nguyễn\x00Văn"}
    r = api.client.post("/api/v1/dossiers", json=_reception(applicant=applicant), headers=headers)
    _refused(api, r, f"applicant.{field}")
    assert "NUL" in r.json()["detail"]
    assert _row_counts(api) == before


def test_a_nul_character_in_a_reason_leaves_the_dossier_as_it_was(api: Api) -> None:
    headers = api.login("tiepnhan")
    created = api.client.post("/api/v1/dossiers", json=_reception(), headers=headers)
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    r = api.client.post(
        f"/api/v1/dossiers/{code}/withdraw", json={"reason": "a\x00b"}, headers=headers
    )
    _refused(api, r, "reason")
    assert (
        api.client.get(f"/api/v1/dossiers/{code}", headers=headers).json()["status"]
        == (created.json()["status"])
    )


def test_a_nul_character_in_a_query_parameter_is_never_a_500(api: Api) -> None:
    # SQLite compares it like any character (no match); PostgreSQL cannot take it at all.
    r = api.client.get("/api/v1/dossiers?procedure=a%00b", headers=api.login("tiepnhan"))
    if r.status_code == 200:
        assert r.json()["total"] == 0
    else:
        _refused(api, r, "", code="invalid_character")


@pytest.mark.parametrize("value", ["1", True, 1.0])
def test_clearance_must_be_a_json_integer(api: Api, value: Any) -> None:
    headers = api.login("admin")
    before = _row_counts(api)
    r = api.client.post(
        "/api/v1/users",
        json={
            "username": "moi",
            "full_name": "Người Mới",
            "agency_code": "000.01.20.H99",
            "roles": ["specialist"],
            "password": "mat-khau-dai",
            "clearance": value,
        },
        headers=headers,
    )
    _refused(api, r, "clearance")
    assert _row_counts(api) == before


def test_json_nested_too_deep_is_a_bilingual_400(api: Api) -> None:
    body = "[" * 100_000 + "]" * 100_000
    r = api.client.post(
        "/api/v1/dossiers",
        content=body,
        headers=api.login("tiepnhan") | {"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "malformed_body"
    assert "Không đọc được" in r.json()["detail"] and "cannot be read" in r.json()["detail"]


@pytest.mark.parametrize(("field", "value"), [("secrecy", True), ("urgency", "1"), ("pages", 2.0)])
def test_document_numbers_must_be_json_integers(api: Api, field: str, value: Any) -> None:
    headers = api.login("vanthu")
    before = _row_counts(api)
    body = {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "12",
        "notation": "UBND-VP",
        "issued_date": "2026-01-05",
        "issuer": {"code": "000.00.00.H99", "name": "UBND tỉnh"},
        "subject": "Về việc thử",
        field: value,
    }
    r = api.client.post("/api/v1/documents", json=body, headers=headers)
    _refused(api, r, field)
    assert _row_counts(api) == before


def test_accepting_a_change_takes_only_a_json_boolean(api: Api) -> None:
    # "yes" was read as true: accepting a recall cannot be undone.
    r = api.client.post(
        "/api/v1/documents/1/answer", json={"accept": "yes"}, headers=api.login("vanthu")
    )
    _refused(api, r, "accept")
