"""A timer whose expression or value fails stops the case with an incident an admin can retry."""

from __future__ import annotations

from tests.bpmn_builder import chain, timer_catch, user_task
from tests.conftest import Api

PAST = "2020-01-01T00:00:00+00:00"


def _deploy(api: Api, process_id: str, nodes: list) -> None:
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": (f"{process_id}.bpmn", chain(process_id, nodes), "application/xml")},
        headers=api.login("thietke"),
    )
    assert r.status_code == 201, r.text


def _start(api: Api, process_id: str, data: dict | None = None) -> dict:
    r = api.client.post(
        "/api/v1/instances",
        json={"process_id": process_id, "data": data or {}},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _retry(api: Api, iid: int, data: dict) -> dict:
    r = api.client.post(
        f"/api/v1/instances/{iid}/retry", json={"data": data}, headers=api.login("admin")
    )
    assert r.status_code == 200, r.text
    return r.json()


def _after_t1(api: Api, start_data: dict) -> dict:
    _deploy(
        api,
        "timer_after_task",
        [
            user_task("t1", "[reception@case]"),
            timer_catch("wait", "when", "[reception@case]"),
            user_task("t2", "[reception@case]"),
        ],
    )
    inst = _start(api, "timer_after_task", start_data)
    r = api.client.post(
        f"/api/v1/tasks/{inst['ready_tasks'][0]['id']}/complete",
        json={"data": {}},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 200, r.text  # was 500, every time: the task could never be done
    return r.json()


def test_completing_a_task_before_a_failing_timer_makes_an_incident_that_retry_clears(
    api: Api,
) -> None:
    done = _after_t1(api, {})
    assert done["status"] == "incident" and done["incident"]["task"] == "wait"
    assert done["ready_tasks"] == []
    listed = api.client.get("/api/v1/instances", headers=api.login("admin")).json()
    assert [i["id"] for i in listed["items"]] == [done["id"]]
    again = _retry(api, done["id"], {"when": PAST})
    assert again["status"] == "running" and again["incident"] is None
    assert [t["task"] for t in again["ready_tasks"]] == ["t2"]


def test_a_timer_value_that_is_no_date_is_an_incident_retried_with_a_date(api: Api) -> None:
    done = _after_t1(api, {"when": "garbage"})
    assert done["status"] == "incident" and done["incident"]["task"] == "wait"
    assert "garbage" in done["incident"]["message"]
    again = _retry(api, done["id"], {"when": PAST})
    assert again["status"] == "running", again["incident"]
    assert [t["task"] for t in again["ready_tasks"]] == ["t2"]


def test_an_incident_at_start_from_a_missing_timer_variable_can_be_retried(api: Api) -> None:
    _deploy(
        api,
        "timer_first",
        [timer_catch("wait", "when", "[reception@case]"), user_task("t2", "[reception@case]")],
    )
    inst = _start(api, "timer_first")
    assert inst["status"] == "incident"
    still = api.client.post(
        f"/api/v1/instances/{inst['id']}/retry", json={}, headers=api.login("admin")
    )
    assert still.status_code == 200 and still.json()["status"] == "incident"
    again = _retry(api, inst["id"], {"when": PAST})  # was 409 no_incident
    assert again["status"] == "running" and [t["task"] for t in again["ready_tasks"]] == ["t2"]


def test_a_start_with_a_deadline_that_is_no_date_is_422_naming_the_field(api: Api) -> None:
    h = api.login("tiepnhan")
    r = api.client.post(
        "/api/v1/instances",
        json={"process_id": "one_stop_standard", "data": {"due_at": "garbage"}},
        headers=h,
    )
    assert r.status_code == 422, r.text  # was 500
    assert r.json()["error"] == "invalid_timer_value"
    assert r.json()["fields"] == [{"field": "data.due_at", "message": "an ISO 8601 date-time"}]
    assert api.client.get("/api/v1/tasks", headers=h).json()["items"] == []
