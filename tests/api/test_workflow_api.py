"""Inbox, task forms, completion, conflicts, definitions and incidents through the HTTP API."""

from __future__ import annotations

import threading
import time

from tests.bpmn_builder import chain, script_task, user_task
from tests.conftest import Api

FAR = "2099-01-01T00:00:00+07:00"


def _start(api: Api, process_id: str = "one_stop_standard", **data: object) -> dict:
    r = api.client.post(
        "/api/v1/instances",
        json={
            "process_id": process_id,
            "business_key": "CASE-0001",
            "data": {"due_at": FAR, **data},
        },
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _inbox(api: Api, h: dict[str, str]) -> list[dict]:
    r = api.client.get("/api/v1/tasks", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_started_case_lands_in_the_reception_inbox(api: Api) -> None:
    inst = _start(api)
    assert inst["status"] == "running" and inst["process_id"] == "one_stop_standard"
    tasks = _inbox(api, api.login("tiepnhan"))
    assert [(t["task"], t["business_key"], t["role"]) for t in tasks] == [
        ("receive", "CASE-0001", "reception")
    ]
    assert _inbox(api, api.login("chuyenvien")) == []


def test_task_form_lists_assignees_as_enum_with_labels_and_default(api: Api) -> None:
    _start(api)
    h_rec = api.login("tiepnhan")
    api.client.post(
        f"/api/v1/tasks/{_inbox(api, h_rec)[0]['id']}/complete", json={"data": {}}, headers=h_rec
    )
    h = api.login("lanhdao")
    task = _inbox(api, h)[0]
    detail = api.client.get(f"/api/v1/tasks/{task['id']}", headers=h).json()
    field = detail["form"]["properties"]["next_assignee"]
    assert field["enum"] == ["chuyenvien"]
    assert field["x-enumNames"] == ["Trần Văn Chuyên"]
    assert field["default"] == "chuyenvien"
    assert detail["data"]["due_at"] == FAR


def test_invalid_task_data_is_422_with_field_errors_and_task_stays_open(api: Api) -> None:
    _start(api)
    h_rec = api.login("tiepnhan")
    api.client.post(
        f"/api/v1/tasks/{_inbox(api, h_rec)[0]['id']}/complete", json={"data": {}}, headers=h_rec
    )
    h = api.login("lanhdao")
    tid = _inbox(api, h)[0]["id"]
    r = api.client.post(
        f"/api/v1/tasks/{tid}/complete",
        json={"data": {"next_assignee": "nobody", "x": 1}},
        headers=h,
    )
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["fields"]}
    assert {"next_assignee", "x"} <= fields
    assert [t["id"] for t in _inbox(api, h)] == [tid]


def test_complete_assigns_the_chosen_specialist(api: Api) -> None:
    _start(api)
    h_rec = api.login("tiepnhan")
    api.client.post(
        f"/api/v1/tasks/{_inbox(api, h_rec)[0]['id']}/complete", json={"data": {}}, headers=h_rec
    )
    h = api.login("lanhdao")
    r = api.client.post(
        f"/api/v1/tasks/{_inbox(api, h)[0]['id']}/complete",
        json={"data": {"next_assignee": "chuyenvien"}},
        headers=h,
    )
    assert r.status_code == 200
    assert [t["task"] for t in r.json()["ready_tasks"]] == ["appraise"]
    mine = _inbox(api, api.login("chuyenvien"))
    assert mine[0]["assignee"] == "chuyenvien"


def test_other_agency_and_role_get_403_unknown_task_404(api: Api) -> None:
    _start(api)
    tid = _inbox(api, api.login("tiepnhan"))[0]["id"]
    for user in ("chuyenvien", "chuyenvien.so"):
        r = api.client.post(
            f"/api/v1/tasks/{tid}/complete", json={"data": {}}, headers=api.login(user)
        )
        assert r.status_code == 403, user
    assert api.client.get("/api/v1/tasks/999999", headers=api.login("tiepnhan")).status_code == 404


def test_completing_twice_is_409(api: Api) -> None:
    _start(api)
    h = api.login("tiepnhan")
    tid = _inbox(api, h)[0]["id"]
    assert (
        api.client.post(f"/api/v1/tasks/{tid}/complete", json={"data": {}}, headers=h).status_code
        == 200
    )
    r = api.client.post(f"/api/v1/tasks/{tid}/complete", json={"data": {}}, headers=h)
    assert r.status_code == 409 and r.json()["error"] == "task_not_ready"


def test_two_users_completing_at_once_one_wins_other_gets_409(api: Api) -> None:
    _start(api)
    h1, h2 = api.login("tiepnhan"), api.login("tiepnhan")
    tid = _inbox(api, h1)[0]["id"]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def go(h: dict[str, str]) -> None:
        barrier.wait()
        codes.append(
            api.client.post(
                f"/api/v1/tasks/{tid}/complete", json={"data": {}}, headers=h
            ).status_code
        )

    threads = [threading.Thread(target=go, args=(h,)) for h in (h1, h2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [200, 409]


def test_designer_deploys_bpmn_and_hostile_xml_is_refused_fast(api: Api) -> None:
    h = api.login("thietke")
    doc = chain("designer_flow", [user_task("t", "[specialist@case]")])
    r = api.client.post(
        "/api/v1/definitions", files={"file": ("flow.bpmn", doc, "application/xml")}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["user_tasks"][0]["lane"] == "[specialist@case]"
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]><bpmn:definitions>&lol9;</bpmn:definitions>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    )
    for bad in (laughs, external, b"<not-closed", b"\x00\xff garbage"):
        t0 = time.monotonic()
        r = api.client.post(
            "/api/v1/definitions", files={"file": ("bad.bpmn", bad, "application/xml")}, headers=h
        )
        assert r.status_code == 422, r.text
        assert time.monotonic() - t0 < 1.0
        assert "root:" not in r.text
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": ("flow.bpmn", doc, "application/xml")},
        headers=api.login("chuyenvien"),
    )
    assert r.status_code == 403


def test_incident_is_listed_for_admin_and_retry_with_fixed_data_resumes(api: Api) -> None:
    doc = chain(
        "divide", [script_task("calc", "share = 100 / parts"), user_task("t", "[reception@case]")]
    )
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": ("d.bpmn", doc, "application/xml")},
        headers=api.login("thietke"),
    )
    assert r.status_code == 201
    inst = api.client.post(
        "/api/v1/instances",
        json={"process_id": "divide", "data": {"parts": 0}},
        headers=api.login("tiepnhan"),
    ).json()
    assert inst["status"] == "incident" and inst["incident"]["task"] == "calc"
    admin = api.login("admin")
    listed = api.client.get("/api/v1/instances?status=incident", headers=admin).json()
    assert [i["id"] for i in listed["items"]] == [inst["id"]]
    assert (
        api.client.post(
            f"/api/v1/instances/{inst['id']}/retry", json={}, headers=api.login("tiepnhan")
        ).status_code
        == 403
    )
    r = api.client.post(
        f"/api/v1/instances/{inst['id']}/retry", json={"data": {"parts": 4}}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running" and r.json()["data"]["share"] == 25
    assert (
        api.client.post(f"/api/v1/instances/{inst['id']}/retry", json={}, headers=admin).status_code
        == 409
    )


def test_unknown_process_is_404_and_bad_body_422(api: Api) -> None:
    h = api.login("tiepnhan")
    r = api.client.post("/api/v1/instances", json={"process_id": "nope"}, headers=h)
    assert r.status_code == 404 and r.json()["error"] == "process_not_deployed"
    r = api.client.post("/api/v1/instances", json={"process_id": 5, "extra": True}, headers=h)
    assert r.status_code == 422
