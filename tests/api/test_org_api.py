"""Agencies and users through the HTTP API: the tree, codes, user creation and admin scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine import demo
from engine.agencies import create_agency
from engine.principal import Clearance
from engine.users import create_user
from tests.conftest import Api

AGENCIES = "/api/v1/agencies"
USERS = "/api/v1/users"
PROVINCE = demo.PROVINCE_CODE
COMMUNE = demo.COMMUNE1_CODE


def _agency(code: str, parent: str | None, kind: str = "other", name: str = "") -> dict[str, Any]:
    return {"code": code, "name": name or f"Cơ quan {code}", "kind": kind, "parent_code": parent}


def _user(username: str, agency: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "username": username,
        "full_name": "Nguyễn Văn Mới",
        "agency_code": agency,
        "roles": roles,
        "password": "mat-khau-rieng-2026",
        **extra,
    }


def _tree(api: Api, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = api.client.get(AGENCIES, headers=headers)
    assert r.status_code == 200, r.text
    agencies: list[dict[str, Any]] = r.json()
    return agencies


def _assert_tree_order(agencies: list[dict[str, Any]]) -> None:
    """Pre-order: each agency's parent is the latest agency listed one level up."""
    latest_at_depth: list[str] = []
    for a in agencies:
        depth = a["depth"]
        assert depth <= len(latest_at_depth), a
        del latest_at_depth[depth:]
        expected_parent = latest_at_depth[depth - 1] if depth else None
        assert a["parent_code"] == expected_parent, a
        latest_at_depth.append(a["code"])


def _usernames(api: Api, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = api.client.get(USERS, params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return {u["username"]: u for u in r.json()["items"]}


def test_agencies_list_demo_tree_with_depth_and_parent_codes(api: Api) -> None:
    agencies = _tree(api, api.login("chuyenvien"))
    assert [a["code"] for a in agencies][0] == PROVINCE
    root = agencies[0]
    assert (root["depth"], root["parent_code"], root["kind"]) == (0, None, "province_pc")
    assert {a["code"] for a in agencies} == {code for code, *_ in demo.AGENCIES}
    for a in agencies[1:]:
        assert (a["depth"], a["parent_code"]) == (1, PROVINCE), a
    communes = {a["code"] for a in agencies if a["kind"] == "commune_pc"}
    assert communes == {demo.COMMUNE1_CODE, demo.COMMUNE2_CODE}
    _assert_tree_order(agencies)
    assert api.client.get(AGENCIES).status_code == 401


def test_admin_adds_agencies_at_any_depth_including_a_legacy_three_tier_chain(
    api: Api,
) -> None:
    h = api.login("admin")
    created = [
        _agency("000.03.20.H99", PROVINCE, "commune_pc", "UBND xã Mới"),
        _agency("000.03.21.H99", "000.03.20.H99", "other", "Bộ phận một cửa xã Mới"),
        _agency("000.05.00.H99", PROVINCE, "district_pc", "UBND huyện cũ"),
        _agency("000.05.01.H99", "000.05.00.H99", "commune_pc", "UBND xã thuộc huyện"),
        _agency("000.05.02.H99", "000.05.01.H99", "other", "Tổ một cửa của xã"),
    ]
    depths = []
    for body in created:
        r = api.client.post(AGENCIES, json=body, headers=h)
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["code"], out["parent_code"], out["kind"]) == (
            body["code"],
            body["parent_code"],
            body["kind"],
        )
        depths.append(out["depth"])
    assert depths == [1, 2, 1, 2, 3]
    agencies = _tree(api, api.login("chuyenvien"))
    by_code = {a["code"]: a for a in agencies}
    assert by_code["000.05.02.H99"]["depth"] == 3
    assert by_code["000.05.01.H99"]["parent_code"] == "000.05.00.H99"
    assert len(agencies) == len(demo.AGENCIES) + len(created)
    _assert_tree_order(agencies)


def test_agency_codes_are_checked_and_duplicates_unknown_parents_and_kinds_refused(
    api: Api,
) -> None:
    h = api.login("admin")
    for code in ("000.00.00.H9", "00.00.00.H99", "000.00.00.HH9", "02-29 W00", "X" * 36):
        r = api.client.post(AGENCIES, json=_agency(code, PROVINCE), headers=h)
        assert r.status_code == 422, code
        assert [f["field"] for f in r.json()["fields"]] == ["code"], (code, r.json())
    for code in ("02.29.W00", "020100107370", "G09.01.02"):
        r = api.client.post(AGENCIES, json=_agency(code, PROVINCE), headers=h)
        assert r.status_code == 201, (code, r.text)
        assert r.json()["code"] == code
    # Codes are upper-cased, so a lower-case spelling of a QCVN 102 code is the same code.
    r = api.client.post(AGENCIES, json=_agency("000.07.20.h99", PROVINCE), headers=h)
    assert r.status_code == 201 and r.json()["code"] == "000.07.20.H99"
    codes = {a["code"] for a in _tree(api, h)}
    assert {"02.29.W00", "020100107370", "G09.01.02", "000.07.20.H99"} <= codes
    assert "000.00.00.H9" not in codes
    r = api.client.post(AGENCIES, json=_agency(COMMUNE, PROVINCE, "commune_pc"), headers=h)
    assert r.status_code == 409
    assert r.json()["error"] == "duplicate_agency"
    r = api.client.post(AGENCIES, json=_agency(COMMUNE.lower(), PROVINCE), headers=h)
    assert r.status_code == 409
    r = api.client.post(AGENCIES, json=_agency("000.09.20.H99", "999.99.99.H99"), headers=h)
    assert r.status_code == 404
    r = api.client.post(AGENCIES, json=_agency("000.09.20.H99", PROVINCE, "lau_dai"), headers=h)
    assert r.status_code == 422
    assert [f["field"] for f in r.json()["fields"]] == ["kind"]
    r = api.client.post(AGENCIES, json={**_agency("000.09.20.H99", PROVINCE), "x": 1}, headers=h)
    assert r.status_code == 422
    after = _tree(api, h)
    assert len(after) == len(demo.AGENCIES) + 4
    assert "000.09.20.H99" not in {a["code"] for a in after}


def test_created_user_logs_in_and_is_listed_with_roles(api: Api) -> None:
    h = api.login("admin")
    body = _user("can.bo-moi_1", COMMUNE, ["specialist", "reception"], clearance=1)
    r = api.client.post(USERS, json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["roles"] == ["reception", "specialist"]
    assert (out["agency_code"], out["clearance"], out["is_active"]) == (COMMUNE, "Mật", True)
    listed = _usernames(api, h)["can.bo-moi_1"]
    assert listed["roles"] == ["reception", "specialist"]
    assert listed["agency_code"] == COMMUNE
    assert listed["full_name"] == "Nguyễn Văn Mới"
    own = api.login("can.bo-moi_1", "mat-khau-rieng-2026")
    assert api.client.get(AGENCIES, headers=own).status_code == 200
    assert api.client.get(USERS, headers=own).status_code == 403  # not an admin
    wrong = api.client.post(
        "/api/v1/auth/token", data={"username": "can.bo-moi_1", "password": "demo"}
    )
    assert wrong.status_code == 401


def test_only_admins_create_users_and_agencies_and_bad_input_creates_nobody(api: Api) -> None:
    designer = api.login("thietke")
    r = api.client.post(AGENCIES, json=_agency("000.09.20.H99", PROVINCE), headers=designer)
    assert r.status_code == 403
    assert r.json()["error"] == "role_required"
    r = api.client.post(USERS, json=_user("nguoi.moi", COMMUNE, ["reception"]), headers=designer)
    assert r.status_code == 403
    assert api.client.get(USERS, headers=designer).status_code == 403
    assert (
        api.client.post(USERS, json=_user("nguoi.moi", COMMUNE, ["reception"])).status_code == 401
    )
    h = api.login("admin")
    for body, status, field in [
        (_user("nguoi.moi", COMMUNE, ["reception", "phu_thuy"]), 422, "roles"),
        (_user("nguoi.moi", COMMUNE, []), 422, "roles"),
        (_user("nguoi.moi", COMMUNE, ["reception"], password="ngan"), 422, "password"),
        (_user("Nguoi Moi", COMMUNE, ["reception"]), 422, "username"),
        (_user("nguoi.moi", COMMUNE, ["reception"], clearance=4), 422, "clearance"),
        (_user("chuyenvien", COMMUNE, ["reception"]), 409, None),
        (_user("nguoi.moi", "999.99.99.H99", ["reception"]), 404, None),
    ]:
        r = api.client.post(USERS, json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        if field:
            assert field in {f["field"] for f in r.json()["fields"]}, (body, r.json())
    users = _usernames(api, h)
    assert "nguoi.moi" not in users
    assert "000.09.20.H99" not in {a["code"] for a in _tree(api, h)}
    assert users["chuyenvien"]["roles"] == ["specialist"]  # the taken name kept its roles


def test_admin_cannot_reach_outside_its_agency_subtree(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        create_agency(session, "001.00.00.H01", "UBND tỉnh Bên Cạnh", "province_pc")
        create_agency(session, "001.01.20.H01", "UBND xã Bên Cạnh", "commune_pc", "001.00.00.H01")
        create_user(
            session,
            "quantri.xa",
            "Quản trị xã Hoà Bình",
            COMMUNE,
            ["admin"],
            "quantri-xa-2026",
            clearance=Clearance.NONE,
        )
    province_admin = api.login("admin")
    agencies = _tree(api, province_admin)
    _assert_tree_order(agencies)
    assert [a["code"] for a in agencies if a["depth"] == 0] == [PROVINCE, "001.00.00.H01"]

    # The province admin's subtree is its own province only.
    r = api.client.post(
        USERS, json=_user("nguoi.ngoai", "001.01.20.H01", ["clerk"]), headers=province_admin
    )
    assert r.status_code == 403
    assert r.json()["error"] == "agency_out_of_scope"
    r = api.client.post(
        AGENCIES, json=_agency("001.02.20.H01", "001.00.00.H01"), headers=province_admin
    )
    assert r.status_code == 403
    assert "nguoi.ngoai" not in _usernames(api, province_admin)

    # A commune admin works inside the commune and nowhere else.
    commune_admin = api.login("quantri.xa", "quantri-xa-2026")
    for agency in (demo.DEPARTMENT_CODE, PROVINCE, "001.01.20.H01"):
        r = api.client.post(
            USERS, json=_user("nguoi.ngoai", agency, ["clerk"]), headers=commune_admin
        )
        assert r.status_code == 403, agency
    r = api.client.post(AGENCIES, json=_agency("000.09.20.H99", PROVINCE), headers=commune_admin)
    assert r.status_code == 403
    r = api.client.post(
        AGENCIES, json=_agency("009.00.00.H09", None, "province_pc"), headers=commune_admin
    )
    assert r.status_code == 403
    r = api.client.post(USERS, json=_user("van.thu.xa", COMMUNE, ["clerk"]), headers=commune_admin)
    assert r.status_code == 201
    r = api.client.post(AGENCIES, json=_agency("000.01.21.H99", COMMUNE), headers=commune_admin)
    assert r.status_code == 201 and r.json()["depth"] == 2
    visible = _usernames(api, commune_admin)
    assert set(visible) == {
        "tiepnhan",
        "chuyenvien",
        "lanhdao",
        "vanthu",
        "quantri.xa",
        "van.thu.xa",
    }
    assert all(u["agency_code"] == COMMUNE for u in visible.values())
    assert "nguoi.ngoai" not in _usernames(api, province_admin)
