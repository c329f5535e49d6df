"""Who reads a dossier, with the applicant's ID number, phone and address (over HTTP, demo
users): the receiving and the competent agency, agencies that held a step, and above them
only leaders and administrators. The detail, the list and the register agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.test_dossiers_api import APPLICANT, _do, _receive
from tests.conftest import Api

PROVINCE = "000.00.00.H99"
APPLICANT_WITH_ADDRESS = APPLICANT | {"address": "Thôn Đông, xã Hoà Bình"}


def _reads(api: Api, user: str, code: str, password: str = "demo") -> bool:
    """Whether `user` reads the dossier: by code, in the list, and in the register alike."""
    h = api.login(user, password)
    got = api.client.get(f"/api/v1/dossiers/{code}", headers=h)
    assert got.status_code in (200, 403), got.text
    listed = api.client.get("/api/v1/dossiers", params={"limit": 200}, headers=h).json()["items"]
    in_list = code in {d["code"] for d in listed}
    assert (got.status_code == 200) == in_list, (user, got.status_code, in_list)
    if got.status_code == 200:
        assert got.json()["applicant"]["id_number"] == APPLICANT["id_number"]
    else:
        assert got.json()["error"] == "dossier_forbidden"
        for secret in (APPLICANT["id_number"], APPLICANT["phone"], "Thôn Đông"):
            assert secret not in got.text
    return in_list


def _in_register(api: Api, user: str, code: str, password: str = "demo") -> bool:
    now = datetime.now(UTC)
    r = api.client.get(
        "/api/v1/dossier-register",
        params={
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        },
        headers=api.login(user, password),
    )
    assert r.status_code == 200, r.text
    return code in r.content.decode("utf-8-sig")


def test_province_archivist_and_designer_do_not_read_a_commune_applicant(api: Api) -> None:
    code = _receive(api, applicant=APPLICANT_WITH_ADDRESS)["code"]
    for user in ("luutru", "thietke"):  # province level: archivist, process designer
        assert not _reads(api, user, code), user
        assert not _in_register(api, user, code), user
    for user in ("tiepnhan", "chuyenvien", "vanthu", "lanhdao"):  # the commune itself
        assert _reads(api, user, code), user
    assert _reads(api, "admin", code)  # the province's administrator supervises
    assert _in_register(api, "admin", code) and _in_register(api, "tiepnhan", code)


def test_a_province_leader_supervises_the_communes_below(api: Api) -> None:
    h = api.login("admin")
    for username, roles in (("lanhdao.tinh", ["leader"]), ("chuyenvien.tinh", ["specialist"])):
        r = api.client.post(
            "/api/v1/users",
            json={
                "username": username,
                "full_name": "Cán bộ tỉnh",
                "agency_code": PROVINCE,
                "roles": roles,
                "password": "matkhau-tinh",
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
    code = _receive(api)["code"]
    assert _reads(api, "lanhdao.tinh", code, "matkhau-tinh")
    assert not _reads(api, "chuyenvien.tinh", code, "matkhau-tinh")


def test_sibling_agencies_do_not_read_each_others_dossiers(api: Api) -> None:
    commune = _receive(api)["code"]
    for user in ("chuyenvien.so", "lanhdao.so", "congan", "bhxh", "tiepnhan.tt"):
        assert not _reads(api, user, commune), user


def test_competent_department_reads_a_dossier_the_centre_received(api: Api) -> None:
    r = api.client.post(
        "/api/v1/dossiers",
        json={
            "procedure_code": "2.001610",
            "applicant": APPLICANT,
            "channel": "counter",
            "complete": True,
            "competent_agency": "000.00.10.H99",
        },
        headers=api.login("tiepnhan.tt"),
    )
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    for user in ("tiepnhan.tt", "chuyenvien.so", "lanhdao.so", "vanthu.so", "admin"):
        assert _reads(api, user, code), user
    for user in ("tiepnhan", "lanhdao", "luutru", "congan"):
        assert not _reads(api, user, code), user


def test_police_and_insurance_list_the_liaison_dossier_they_worked(api: Api) -> None:
    code = _receive(api, procedure_code="3.000722")["code"]
    _do(api, "tiepnhan", "receive", code)
    _do(api, "chuyenvien", "appraise_birth", code, {"appraisal": "eligible"})
    assert not _reads(api, "congan", code)  # no step of theirs yet
    _do(api, "lanhdao", "approve_birth", code, {"decision": "approve"})
    assert _reads(api, "congan", code)  # their step is waiting in their inbox
    _do(api, "congan", "register_residence", code, {"residence_registered": True})
    _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"})
    _do(api, "tiepnhan", "return_result", code)
    for user in ("congan", "bhxh"):  # still theirs after the work is done
        assert _reads(api, user, code), user
    assert not _reads(api, "chuyenvien.so", code)
