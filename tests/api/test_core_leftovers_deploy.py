"""Deploying a BPMN file: 201 only when a new version was stored."""

from __future__ import annotations

from tests.bpmn_builder import chain, user_task
from tests.conftest import Api


def test_redeploying_the_identical_bpmn_answers_200_not_created(api: Api) -> None:
    designer = api.login("thietke")
    doc = chain("same_flow", [user_task("t", "[specialist@case]")])

    def post(data: bytes) -> tuple[int, dict]:
        r = api.client.post(
            "/api/v1/definitions",
            files={"file": ("same.bpmn", data, "application/xml")},
            headers=designer,
        )
        return r.status_code, r.json()

    status, first = post(doc)
    assert (status, first["created"], first["version"]) == (201, True, 1)
    status, again = post(doc)
    assert (status, again["created"], again["version"]) == (200, False, 1)
    assert again["id"] == first["id"]
    changed = chain("same_flow", [user_task("t2", "[specialist@case]")])
    status, second = post(changed)
    assert (status, second["created"], second["version"]) == (201, True, 2)
