"""The procedure catalogue through the HTTP API: listing, search, designer edits, catalogue sync."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from engine.catalogue import sync_catalogue
from engine.procedures import load_catalogue
from tests.conftest import WORKFLOWS, Api

URL = "/api/v1/procedures"
CATALOGUE_DIR = WORKFLOWS / "catalogue"
CATALOGUE = load_catalogue(CATALOGUE_DIR)
BIRTH = yaml.safe_load((CATALOGUE_DIR / "dang-ky-khai-sinh.yaml").read_text(encoding="utf-8"))


def _new_procedure(**changes: Any) -> dict[str, Any]:
    """A valid body in the catalogue-file shape: the birth registration under a new code."""
    body = copy.deepcopy(BIRTH)
    body.update({"code": "1.999001", "name": "Thủ tục thử nghiệm cấp xã"}, **changes)
    return body


def _codes(api: Api, headers: dict[str, str], **params: Any) -> list[str]:
    r = api.client.get(URL, params={"limit": 200, **params}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return [p["code"] for p in body["items"]]


def _matching(text: str) -> list[str]:
    """Catalogue codes whose code, name or field contains `text`, ignoring case."""
    needle = text.lower()
    return sorted(
        s.code
        for s in CATALOGUE
        if any(needle in value.lower() for value in (s.code, s.name, s.field))
    )


def test_list_pages_by_code_with_total_and_one_is_read_by_code_or_404(api: Api) -> None:
    h = api.login("tiepnhan")
    assert len(CATALOGUE) >= 10
    every = _codes(api, h)
    assert every == sorted(s.code for s in CATALOGUE)
    pages = []
    for offset in range(0, len(every), 4):
        r = api.client.get(URL, params={"limit": 4, "offset": offset}, headers=h)
        assert r.status_code == 200
        body = r.json()
        assert (body["total"], body["limit"], body["offset"]) == (len(every), 4, offset)
        assert 1 <= len(body["items"]) <= 4
        pages.extend(p["code"] for p in body["items"])
    assert pages == every
    past_end = api.client.get(URL, params={"offset": 500}, headers=h).json()
    assert past_end["items"] == [] and past_end["total"] == len(every)
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        r = api.client.get(URL, params=bad, headers=h)
        assert r.status_code == 422
        assert {f["field"] for f in r.json()["fields"]} == set(bad)
    r = api.client.get(f"{URL}/1.001193", headers=h)
    assert r.status_code == 200
    got = r.json()
    assert got["name"] == BIRTH["name"] == "Đăng ký khai sinh"
    assert got["level"] == "commune" and got["process_id"] == "one_stop_standard"
    assert Decimal(got["processing_days"]) == Decimal(BIRTH["processing_days"])
    assert {k: Decimal(v) for k, v in got["step_shares"].items()} == {
        k: Decimal(str(v)) for k, v in BIRTH["step_shares"].items()
    }
    assert got["documents"] == BIRTH["documents"]
    assert got["legal_basis"] == BIRTH["legal_basis"]
    missing = api.client.get(f"{URL}/9.999999", headers=h)
    assert missing.status_code == 404
    assert missing.json()["error"] == "procedure_not_found"
    assert api.client.get(f"{URL}/1.001193").status_code == 401
    assert api.client.get(URL).status_code == 401


def test_level_filter_and_text_search_narrow_the_list(api: Api) -> None:
    h = api.login("tiepnhan")
    province = sorted(s.code for s in CATALOGUE if s.level == "province")
    commune = sorted(s.code for s in CATALOGUE if s.level == "commune")
    assert province and commune
    assert _codes(api, h, level="province") == province
    assert _codes(api, h, level="commune") == commune
    r = api.client.get(URL, params={"level": "district"}, headers=h)
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "level"
    # In the name (both the birth registration and the birth liaison group), the code, the field.
    assert _codes(api, h, q="khai sinh") == _matching("khai sinh") == ["1.001193", "3.000722"]
    assert _codes(api, h, q="1.0011") == ["1.001193"]
    assert _codes(api, h, q="hộ tịch") == _matching("hộ tịch")
    assert len(_matching("hộ tịch")) >= 3
    assert _codes(api, h, q="KHAI SINH") == ["1.001193", "3.000722"]
    both = _codes(api, h, q="hộ tịch", level="province")
    assert both == sorted(set(_matching("hộ tịch")) & set(province))
    assert _codes(api, h, q="không có thủ tục này") == []


def test_search_by_exact_vietnamese_name_finds_the_procedure(
    api: Api, request: pytest.FixtureRequest
) -> None:
    h = api.login("tiepnhan")
    for spec in CATALOGUE:
        assert spec.code in _codes(api, h, q=spec.name[:100]), spec.name
    assert _codes(api, h, q="đăng ký") == _matching("đăng ký")


def test_text_search_takes_percent_and_underscore_literally(api: Api) -> None:
    h = api.login("tiepnhan")
    assert _matching("_") == []
    assert _codes(api, h, q="_") == []
    assert _codes(api, h, q="%") == []


def test_designer_adds_a_procedure_and_changes_its_days_but_a_specialist_gets_403(api: Api) -> None:
    h = api.login("thietke")
    body = _new_procedure()
    r = api.client.post(URL, json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["code"] == "1.999001"
    stored = api.client.get(f"{URL}/1.999001", headers=h).json()
    assert stored["name"] == "Thủ tục thử nghiệm cấp xã"
    assert Decimal(stored["processing_days"]) == 1
    assert "1.999001" in _codes(api, h, q="thử nghiệm")
    assert len(_codes(api, h)) == len(CATALOGUE) + 1

    r = api.client.put(f"{URL}/1.999001", json={**body, "processing_days": 7.5}, headers=h)
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["processing_days"]) == Decimal("7.5")
    # A specialist reads the change from the database but may not edit.
    specialist = api.login("chuyenvien")
    again = api.client.get(f"{URL}/1.999001", headers=specialist).json()
    assert Decimal(again["processing_days"]) == Decimal("7.5")
    assert again["name"] == stored["name"]
    r = api.client.put(f"{URL}/1.999001", json={**body, "processing_days": 9}, headers=specialist)
    assert r.status_code == 403
    assert r.json()["error"] == "role_required"
    r = api.client.post(URL, json=_new_procedure(code="1.999009"), headers=specialist)
    assert r.status_code == 403
    assert api.client.post(URL, json=_new_procedure(code="1.999009")).status_code == 401
    assert api.client.get(f"{URL}/1.999009", headers=specialist).status_code == 404
    assert Decimal(
        api.client.get(f"{URL}/1.999001", headers=h).json()["processing_days"]
    ) == Decimal("7.5")


def test_invalid_procedure_is_422_naming_the_field_and_stores_nothing(api: Api) -> None:
    h = api.login("thietke")
    shares = dict(BIRTH["step_shares"], receive=0.5)
    bad_bodies = {
        "step_shares": _new_procedure(step_shares=shares),
        "colour": _new_procedure(colour="đỏ"),
        "processing_days": _new_procedure(processing_days=-3),
        "name": {k: v for k, v in _new_procedure().items() if k != "name"},
        "process_id": _new_procedure(process_id="no_such_process"),
    }
    for field, body in bad_bodies.items():
        r = api.client.post(URL, json=body, headers=h)
        assert r.status_code == 422, (field, r.text)
        assert field in r.json()["detail"], (field, r.json())
    assert api.client.get(f"{URL}/1.999001", headers=h).status_code == 404
    # The same checks guard a replacement; the stored definition stays.
    r = api.client.put(f"{URL}/1.001193", json={**BIRTH, "step_shares": shares}, headers=h)
    assert r.status_code == 422
    assert "step_shares" in r.json()["detail"]
    r = api.client.put(f"{URL}/1.001193", json={**BIRTH, "processing_days": 0}, headers=h)
    assert r.status_code == 422
    assert "processing_days" in r.json()["detail"]
    r = api.client.post(URL, json=["not", "a", "mapping"], headers=h)
    assert r.status_code == 422
    stored = api.client.get(f"{URL}/1.001193", headers=h).json()
    assert Decimal(stored["processing_days"]) == 1
    assert Decimal(stored["step_shares"]["receive"]) == Decimal("0.1")


def test_invalid_procedure_fields_are_a_list_like_every_other_422(api: Api) -> None:
    h = api.login("thietke")
    r = api.client.post(URL, json=_new_procedure(processing_days=-3), headers=h)
    assert r.status_code == 422
    fields = r.json()["fields"]
    assert isinstance(fields, list)
    assert any(f["field"] == "processing_days" for f in fields)


def test_code_cannot_change_in_put_nor_be_reused_in_post(api: Api) -> None:
    h = api.login("thietke")
    r = api.client.put(f"{URL}/1.001193", json={**BIRTH, "code": "1.999002"}, headers=h)
    assert r.status_code == 409
    assert r.json()["error"] == "code_mismatch"
    assert api.client.get(f"{URL}/1.999002", headers=h).status_code == 404
    assert api.client.get(f"{URL}/1.001193", headers=h).json()["name"] == "Đăng ký khai sinh"
    r = api.client.post(URL, json={**BIRTH, "name": "Bản sao trùng mã"}, headers=h)
    assert r.status_code == 409
    assert r.json()["error"] == "duplicate_procedure"
    assert api.client.get(f"{URL}/1.001193", headers=h).json()["name"] == "Đăng ký khai sinh"
    r = api.client.put(f"{URL}/1.999003", json={**BIRTH, "code": "1.999003"}, headers=h)
    assert r.status_code == 404


def test_procedure_edited_via_api_survives_catalogue_sync(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    h = api.login("thietke")
    r = api.client.put(f"{URL}/1.001193", json={**BIRTH, "processing_days": 2.5}, headers=h)
    assert r.status_code == 200
    with sessions.begin() as session:
        assert sync_catalogue(session, CATALOGUE_DIR) == (0, 0)
    kept = api.client.get(f"{URL}/1.001193", headers=h).json()
    assert Decimal(kept["processing_days"]) == Decimal("2.5")
    # Only an explicit overwrite puts the file's value back.
    with sessions.begin() as session:
        assert sync_catalogue(session, CATALOGUE_DIR, overwrite=True) == (0, len(CATALOGUE))
    reset = api.client.get(f"{URL}/1.001193", headers=h).json()
    assert Decimal(reset["processing_days"]) == 1


def test_long_competent_unit_within_the_schema_is_stored_not_a_500(
    api: Api, request: pytest.FixtureRequest
) -> None:
    h = api.login("thietke")
    unit = "UBND cấp xã " + "và các cơ quan phối hợp " * 12
    assert 255 < len(unit.strip()) <= 500
    r = api.client.post(URL, json=_new_procedure(competent_unit=unit), headers=h)
    assert r.status_code == 201, r.text
    stored = api.client.get(f"{URL}/1.999001", headers=h).json()
    assert stored["competent_unit"] == unit.strip()
