"""How the result goes back to the applicant: at the receiving counter (the default) or by the
public postal service to an address (Decree 118/2025 non-boundary reception), shown on the
dossier and on its timeline (over HTTP, demo users)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Dossier, DossierEvent
from tests.api.test_dossiers_api import APPLICANT, _do
from tests.conftest import Api

ADDRESS = "Số 12 Lý Thường Kiệt, phường Hàng Bài, Hà Nội"


def _receive_at_centre(api: Api) -> str:
    """A business registration received at the provincial service centre for the department
    that decides it, processed there up to the return at the centre."""
    body = {
        "procedure_code": "2.001610",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
        "competent_agency": "000.00.10.H99",
    }
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan.tt"))
    assert r.status_code == 201, r.text
    code: str = r.json()["code"]
    _do(api, "tiepnhan.tt", "receive", code)
    _do(api, "lanhdao.so", "assign", code, {"next_assignee": "chuyenvien.so"})
    _do(api, "chuyenvien.so", "appraise", code, {"appraisal": "eligible"})
    _do(api, "lanhdao.so", "approve", code, {"decision": "approve"})
    _do(api, "vanthu.so", "issue_result", code)
    return code


def _return_task(api: Api, code: str) -> dict[str, Any]:
    h = api.login("tiepnhan.tt")
    items = api.client.get("/api/v1/tasks?limit=200", headers=h).json()["items"]
    mine = [t for t in items if t["task"] == "return_result" and t["business_key"] == code]
    assert len(mine) == 1, items
    r = api.client.get(f"/api/v1/tasks/{mine[0]['id']}", headers=h)
    assert r.status_code == 200, r.text
    task: dict[str, Any] = r.json()
    return task


def _complete_return(api: Api, code: str, data: dict[str, Any]) -> Any:
    task = _return_task(api, code)
    return api.client.post(
        f"/api/v1/tasks/{task['id']}/complete",
        json={"data": data},
        headers=api.login("tiepnhan.tt"),
    )


def _view(api: Api, code: str, user: str = "tiepnhan.tt") -> dict[str, Any]:
    r = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login(user))
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


def _return_event(view: dict[str, Any]) -> dict[str, Any]:
    events = [
        e
        for e in view["timeline"]
        if e["kind"] == "handover" and e["details"]["task"] == "return_result"
    ]
    assert len(events) == 1, view["timeline"]
    return events[0]


def test_result_returned_by_post_shows_the_postal_address_on_the_dossier(api: Api) -> None:
    code = _receive_at_centre(api)
    form = _return_task(api, code)["form"]["properties"]
    assert form["returned_by"]["default"] == "counter" and "post" in form["returned_by"]["enum"]
    assert "postal_address" in form
    before = _view(api, code)
    assert before["returned_by"] is None and before["postal_address"] is None

    r = _complete_return(api, code, {"returned_by": "post", "postal_address": f"  {ADDRESS} "})
    assert r.status_code == 200, r.text

    for user in ("tiepnhan.tt", "lanhdao.so"):  # the receiving centre and the department
        view = _view(api, code, user)
        assert (view["status"], view["returned_by"]) == (10, "post")
        assert view["returned_by_name"] == "Qua bưu chính công ích"
        assert view["postal_address"] == ADDRESS
    event = _return_event(view)
    assert event["status"] == 10 and event["by"] == "tiepnhan.tt"
    assert "Qua bưu chính công ích" in event["note"] and ADDRESS in event["note"]
    assert event["details"]["returned_by"] == "post"
    assert event["details"]["postal_address"] == ADDRESS
    public = api.client.get(f"/api/v1/public/dossiers/{code}")
    assert public.status_code == 200 and public.json()["status"] == 10
    assert ADDRESS not in public.text and "postal_address" not in public.json()


def test_result_is_returned_at_the_counter_by_default(api: Api) -> None:
    code = _receive_at_centre(api)
    r = _complete_return(api, code, {"comment": "Công dân đã nhận"})
    assert r.status_code == 200, r.text

    view = _view(api, code)
    assert view["status"] == 10
    assert (view["returned_by"], view["returned_by_name"]) == ("counter", "Tại quầy")
    assert view["postal_address"] is None
    event = _return_event(view)
    assert event["details"]["returned_by"] == "counter" and "Tại quầy" in event["note"]
    assert "postal_address" not in event["details"]


def test_return_by_post_without_an_address_is_refused_and_nothing_changes(api: Api) -> None:
    code = _receive_at_centre(api)
    for data in ({"returned_by": "post"}, {"returned_by": "post", "postal_address": "   "}):
        r = _complete_return(api, code, data)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "postal_address_required"
        assert [f["field"] for f in body["fields"]] == ["postal_address"]
        assert "cần địa chỉ nhận" in body["detail"] and "needs the postal address" in body["detail"]
        view = _view(api, code)
        assert (view["status"], view["returned_at"], view["returned_by"]) == (9, None, None)
        assert not [e for e in view["timeline"] if e["details"].get("task") == "return_result"]

    too_long = _complete_return(api, code, {"returned_by": "post", "postal_address": "x" * 501})
    assert too_long.status_code == 422 and "postal_address" in too_long.json()["detail"]
    fax = _complete_return(api, code, {"returned_by": "fax"})
    assert fax.status_code == 422 and "returned_by" in fax.json()["detail"]
    assert _view(api, code)["status"] == 9

    ok = _complete_return(api, code, {"returned_by": "post", "postal_address": ADDRESS})
    assert ok.status_code == 200, ok.text
    assert _view(api, code)["postal_address"] == ADDRESS


def test_dossier_returned_before_the_return_method_was_recorded_reads_as_counter(
    api: Api,
) -> None:
    code = _receive_at_centre(api)
    assert _complete_return(api, code, {}).status_code == 200
    with api.state.sessions.begin() as s:  # as stored before the return form was recorded
        dossier_id = s.scalars(select(Dossier.id).where(Dossier.code == code)).one()
        for e in s.scalars(select(DossierEvent).where(DossierEvent.dossier_id == dossier_id)):
            if e.details.get("task") == "return_result":
                e.details = {k: v for k, v in e.details.items() if k != "returned_by"}
                e.note = "Trả kết quả cho tổ chức, cá nhân"

    view = _view(api, code)
    assert "returned_by" not in _return_event(view)["details"]
    assert view["status"] == 10
    assert (view["returned_by"], view["returned_by_name"]) == ("counter", "Tại quầy")
    assert view["postal_address"] is None
