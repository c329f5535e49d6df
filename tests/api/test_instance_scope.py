"""Who may start, read and route a process instance through the generic workflow routes."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.runtime.definitions import deploy
from engine.runtime.instances import start_instance
from storage.models import Agency, WorkflowInstance
from tests.bpmn_builder import chain, script_task, user_task
from tests.conftest import Api

FAR = "2099-01-01T00:00:00+07:00"
DEPARTMENT = "000.00.10.H99"


def _instances(api: Api) -> int:
    with api.state.sessions.begin() as s:
        return s.scalar(select(func.count()).select_from(WorkflowInstance)) or 0


def _inbox(api: Api, user: str) -> list[dict]:
    r = api.client.get("/api/v1/tasks", headers=api.login(user))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_commune_desk_cannot_start_a_case_into_another_agencys_inbox(api: Api) -> None:
    # The generic start took `competent_agency` on trust: a commune receptionist put tasks with
    # planted data into the department leader's inbox, which dossier reception refuses.
    h = api.login("tiepnhan")
    api.client.post(
        "/api/v1/agencies",
        json={"code": "000.00.00.H98", "name": "Tỉnh khác", "kind": "province_pc"},
        headers=api.login("admin"),
    )
    for target in (DEPARTMENT, "000.00.00.H98"):
        r = api.client.post(
            "/api/v1/instances",
            json={
                "process_id": "one_stop_standard",
                "business_key": f"FAKE-{target}",
                "data": {"competent_agency": target, "due_at": FAR, "applicant": "injected"},
            },
            headers=h,
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "routing_data_refused"
        assert r.json()["fields"] == [
            {"field": "data.competent_agency", "message": "reserved for routing"}
        ]
    assert _instances(api) == 0
    assert _inbox(api, "lanhdao.so") == []
    # The same process without routing data still starts at the desk's own agency.
    r = api.client.post(
        "/api/v1/instances",
        json={"process_id": "one_stop_standard", "data": {"due_at": FAR}},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["agency_code"] == "000.01.20.H99"


def _user(api: Api, username: str, agency: str, roles: list[str], clearance: int = 0) -> dict:
    password = "Kiem-tra-2026-an-toan!"
    r = api.client.post(
        "/api/v1/users",
        json={
            "username": username,
            "full_name": username,
            "agency_code": agency,
            "roles": roles,
            "password": password,
            "clearance": clearance,
        },
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    return api.login(username, password)


def _incident(api: Api, secrecy: int = 0) -> int:
    doc = chain(
        "divide", [script_task("calc", "share = 100 / parts"), user_task("t", "[reception@case]")]
    )
    with api.state.sessions.begin() as s:
        deploy(s, doc, "d.bpmn", {})
        commune = s.scalar(select(Agency.id).where(Agency.code == "000.01.20.H99"))
        assert commune is not None
        loaded = start_instance(s, "divide", agency_id=commune, data={"parts": 0}, secrecy=secrecy)
        assert loaded.row.status == "incident"
        return loaded.row.id


def test_an_admin_of_another_commune_neither_lists_nor_retries_its_incidents(api: Api) -> None:
    iid = _incident(api)
    other = _user(api, "admin.xa2", "000.02.20.H99", ["admin"], clearance=3)
    listed = api.client.get("/api/v1/instances?status=incident", headers=other)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert listed.json()["total"] == 0
    r = api.client.post(
        f"/api/v1/instances/{iid}/retry",
        json={"data": {"parts": 4, "planted": "by admin.xa2"}},
        headers=other,
    )
    assert r.status_code == 403, r.text
    admin = api.login("admin")  # the province's admin answers for the commune
    got = api.client.get(f"/api/v1/instances/{iid}", headers=admin).json()
    assert got["status"] == "incident" and "planted" not in got["data"]
    listed = api.client.get("/api/v1/instances?status=incident", headers=admin).json()
    assert [i["id"] for i in listed["items"]] == [iid]
    r = api.client.post(
        f"/api/v1/instances/{iid}/retry", json={"data": {"parts": 4}}, headers=admin
    )
    assert r.status_code == 200 and r.json()["data"]["share"] == 25, r.text


def test_a_secret_incident_is_hidden_from_an_admin_without_clearance(api: Api) -> None:
    iid = _incident(api, secrecy=2)
    uncleared = _user(api, "admin.tinh", "000.00.00.H99", ["admin"], clearance=1)
    listed = api.client.get("/api/v1/instances?status=incident", headers=uncleared).json()
    assert listed["items"] == [] and listed["total"] == 0
    r = api.client.post(
        f"/api/v1/instances/{iid}/retry", json={"data": {"parts": 4}}, headers=uncleared
    )
    assert r.status_code == 404 and r.json()["error"] == "instance_not_found", r.text
    assert api.client.get("/api/v1/instances", headers=api.login("admin")).json()["total"] == 1


def test_a_retry_cannot_plant_routing_data(api: Api) -> None:
    iid = _incident(api)
    r = api.client.post(
        f"/api/v1/instances/{iid}/retry",
        json={"data": {"parts": 4, "competent_agency": DEPARTMENT}},
        headers=api.login("admin"),
    )
    assert r.status_code == 422 and r.json()["error"] == "routing_data_refused", r.text


def test_a_dossiers_instance_is_read_only_by_the_dossiers_readers(api: Api) -> None:
    # A province archivist or designer is refused the dossier; its instance carries the same
    # applicant data and must be refused alike.
    body = {
        "procedure_code": "1.000656",
        "channel": "counter",
        "complete": True,
        "applicant": {
            "full_name": "Nguyễn Văn Bí Mật",
            "id_number": "001099012345",
            "phone": "0912345678",
            "address": "Số 1 Đường A",
        },
    }
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan"))
    assert r.status_code == 201, r.text
    code, iid = r.json()["code"], r.json()["instance_id"]
    for user in ("luutru", "thietke", "chuyenvien.so"):
        h = api.login(user)
        assert api.client.get(f"/api/v1/dossiers/{code}", headers=h).status_code == 403, user
        got = api.client.get(f"/api/v1/instances/{iid}", headers=h)
        assert got.status_code == 403, (user, got.text)
        assert "Bí Mật" not in got.text
    for user in ("tiepnhan", "lanhdao", "admin"):
        got = api.client.get(f"/api/v1/instances/{iid}", headers=api.login(user))
        assert got.status_code == 200 and got.json()["data"]["dossier_code"] == code, user


def test_a_raw_start_cannot_take_a_dossiers_or_a_documents_business_key(api: Api) -> None:
    # The one-stop and document modules find their case by business key: an instance started
    # under a dossier's code could issue that dossier's apology slip or seal its result.
    from tests.api.test_dossiers_api import _receive

    code = _receive(api)["code"]
    before = _instances(api)
    for key in (code, "000.01.20.H99-991231-0001", "VB-1"):
        r = api.client.post(
            "/api/v1/instances",
            json={"process_id": "one_stop_standard", "business_key": key, "data": {"due_at": FAR}},
            headers=api.login("tiepnhan"),
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "business_key_reserved"
    assert _instances(api) == before
