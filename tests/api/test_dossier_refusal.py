"""Refusing to settle a dossier during processing (not eligible): the approver's decision, its
reason on the dossier, and the written refusal returned as the result."""

from __future__ import annotations

from tests.api.test_dossier_supplement import _do, _task_id
from tests.api.test_dossiers_api import _receive
from tests.conftest import Api

REASON = "Người yêu cầu không cư trú trên địa bàn xã"


def _view(api: Api, code: str, user: str = "lanhdao") -> dict:
    r = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login(user))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_refusal_needs_a_reason_then_the_refusal_is_issued_and_returned(api: Api) -> None:
    code = _receive(api)["code"]
    assert _do(api, "tiepnhan", "receive", code) == 200
    assert _do(api, "lanhdao", "assign", code, {"next_assignee": "chuyenvien"}) == 200
    assert _do(api, "chuyenvien", "appraise", code, {"appraisal": "not_eligible"}) == 200

    task = _task_id(api, "lanhdao", "approve", code)
    for data in ({"decision": "refuse"}, {"decision": "refuse", "refusal_reason": "   "}):
        r = api.client.post(
            f"/api/v1/tasks/{task}/complete", json={"data": data}, headers=api.login("lanhdao")
        )
        assert r.status_code == 422, r.text
        assert "refusal_reason" in r.text
    assert _view(api, code)["refusal_reason"] is None  # nothing recorded

    decision = {"decision": "refuse", "refusal_reason": f"  {REASON} "}
    assert _do(api, "lanhdao", "approve", code, decision) == 200
    got = _view(api, code)
    assert got["refusal_reason"] == REASON and got["status"] == 4
    (refused,) = [e for e in got["timeline"] if e["kind"] == "refused"]
    assert refused["note"] == REASON and refused["by"] == "lanhdao"

    # The written refusal is the result: registered and issued, then handed to the applicant.
    assert _do(api, "vanthu", "issue_result", code) == 200
    assert _do(api, "tiepnhan", "return_result", code) == 200
    got = _view(api, code)
    assert (got["status"], got["refusal_reason"]) == (10, REASON)
    assert got["timeliness"] in ("early", "on_time")
    assert len([e for e in got["timeline"] if e["kind"] == "refused"]) == 1


def test_a_refused_liaison_dossier_never_reaches_the_police_or_social_insurance(
    api: Api,
) -> None:
    code = _receive(api, procedure_code="3.000722")["code"]
    assert _do(api, "tiepnhan", "receive", code) == 200
    assert _do(api, "chuyenvien", "appraise_birth", code, {"appraisal": "not_eligible"}) == 200
    decision = {"decision": "refuse", "refusal_reason": REASON}
    assert _do(api, "lanhdao", "approve_birth", code, decision) == 200
    for user in ("congan", "bhxh"):
        items = api.client.get("/api/v1/tasks?limit=200", headers=api.login(user)).json()
        assert [t for t in items["items"] if t["business_key"] == code] == []
    assert _do(api, "tiepnhan", "return_result", code) == 200
    got = _view(api, code, "tiepnhan")
    assert (got["status"], got["refusal_reason"]) == (10, REASON)
    tasks = [e["details"].get("task") for e in got["timeline"] if e["kind"] == "handover"]
    assert "register_residence" not in tasks and "issue_insurance_card" not in tasks
