"""NaN, Infinity and numbers past a double in request bodies are refused, never stored as null."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import Input
from storage.models.workflow import WorkflowInstance
from tests.bpmn_builder import chain, user_task
from tests.conftest import Api

FAR = "2099-01-01T00:00:00+07:00"
NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def _post(api: Api, path: str, body: str, headers: dict[str, str]) -> dict:
    r = api.client.post(path, content=body, headers=headers | {"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    answer: dict = r.json()
    assert answer["error"] == "invalid_input"
    assert " / " in answer["detail"] and "finite" in answer["detail"]
    return answer


def _instances(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return s.scalar(select(func.count()).select_from(WorkflowInstance)) or 0


@pytest.mark.parametrize("number", NOT_FINITE)
def test_starting_with_a_non_finite_number_is_422_naming_the_field_and_starts_nothing(
    api: Api, sessions: sessionmaker[Session], number: str
) -> None:
    before = _instances(sessions)
    data = f'{{"due_at": "{FAR}", "fee": {{"items": [1, {number}]}}}}'
    body = f'{{"process_id": "one_stop_standard", "data": {data}}}'
    answer = _post(api, "/api/v1/instances", body, api.login("tiepnhan"))
    assert [f["field"] for f in answer["fields"]] == ["data.fee.items.1"]
    assert "data.fee.items.1" in answer["detail"]
    assert _instances(sessions) == before


def test_completing_a_task_with_nan_is_422_and_the_task_stays_open(api: Api) -> None:
    doc = chain("free_data_flow", [user_task("t", "[reception@case]")])
    r = api.client.post(
        "/api/v1/definitions",
        files={"file": ("free.bpmn", doc, "application/xml")},
        headers=api.login("thietke"),
    )
    assert r.status_code == 201, r.text
    clerk = api.login("tiepnhan")
    r = api.client.post("/api/v1/instances", json={"process_id": "free_data_flow"}, headers=clerk)
    assert r.status_code == 201, r.text
    (task,) = api.client.get("/api/v1/tasks", headers=clerk).json()["items"]
    answer = _post(api, f"/api/v1/tasks/{task['id']}/complete", '{"data": {"score": NaN}}', clerk)
    assert [f["field"] for f in answer["fields"]] == ["data.score"]
    detail = api.client.get(f"/api/v1/tasks/{task['id']}", headers=clerk).json()
    assert detail["state"] == "ready" and "score" not in detail["data"]


def test_a_form_with_infinity_is_refused_at_deploy(api: Api) -> None:
    doc = chain("nan_form_flow", [user_task("t", "[specialist@case]")])
    for form in ('{"type": "object", "maximum": Infinity}', '{"type": "number", "minimum": 1e400}'):
        r = api.client.post(
            "/api/v1/definitions",
            files=[
                ("file", ("f.bpmn", doc, "application/xml")),
                ("forms", ("f.schema.json", form, "application/json")),
            ],
            headers=api.login("thietke"),
        )
        assert r.status_code == 422, r.text
        assert r.json()["fields"][0]["field"] == "forms"


def test_a_typed_float_field_refuses_infinity_in_both_languages() -> None:
    class Reading(Input):
        value: float

    assert Reading.model_validate({"value": 1.5}).value == 1.5
    for bad in (float("nan"), float("inf"), json.loads("-1e400")):
        with pytest.raises(ValidationError) as caught:
            Reading.model_validate({"value": bad})
        (error,) = caught.value.errors()
        assert error["type"] == "non_finite_number" and error["loc"] == ("value",)
        assert " / " in error["msg"]
