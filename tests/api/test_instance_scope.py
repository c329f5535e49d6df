"""Who may start, read and route a process instance through the generic workflow routes."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import WorkflowInstance
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
