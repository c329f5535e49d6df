"""One installation serves one root agency: the API refuses a second root, which nobody could
administer (other provinces and ministries are other nodes, reached by exchange)."""

from __future__ import annotations

from engine import demo
from tests.conftest import Api

AGENCIES = "/api/v1/agencies"


def test_root_admin_cannot_add_a_second_root_agency_and_is_told_how(api: Api) -> None:
    admin = api.login("admin")
    before = api.client.get(AGENCIES, headers=admin).json()
    body = {"code": "000.00.00.H01", "name": "UBND tỉnh Bên Cạnh", "kind": "province_pc"}
    for parent in ({}, {"parent_code": None}):
        r = api.client.post(AGENCIES, json=body | parent, headers=admin)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "second_root_agency"
        detail = r.json()["detail"]
        assert " / " in detail and "lienthong agency add" in detail and "--parent" in detail
    assert api.client.get(AGENCIES, headers=admin).json() == before
    # Under the root it is an ordinary agency, and the same admin may add below it.
    r = api.client.post(
        AGENCIES, json=body | {"parent_code": demo.PROVINCE_CODE, "kind": "other"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = api.client.post(
        AGENCIES,
        json={
            "code": "000.01.00.H01",
            "name": "Phòng",
            "kind": "other",
            "parent_code": body["code"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
