"""A supplement asked for during processing: the clock stops, the due date moves, the deadline
watch follows it, and the scorecard counts a second request as overdue (over HTTP, demo users)."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine.runtime.timers import fire_due_timers
from engine.workdays import calendar_for
from storage.models import AuditEvent, Dossier, DossierEvent, WorkflowInstance, WorkflowTask
from tests.conftest import Api

APPLICANT = {"full_name": "Phạm Văn Bổ Sung", "id_number": "001190054321", "phone": "0912345679"}
NEW_ITEMS = ["Bản sao Giấy chứng nhận kết hôn", "Trích lục ghi chú ly hôn"]
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _receive(api: Api, **over: object) -> dict:
    body = {
        "procedure_code": "1.004873",  # 3 working days, one_stop_standard
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
    } | over
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan"))
    assert r.status_code == 201, r.text
    return r.json()


def _task_id(api: Api, user: str, task: str, code: str) -> int:
    items = api.client.get("/api/v1/tasks?limit=200", headers=api.login(user)).json()["items"]
    mine = [t["id"] for t in items if t["task"] == task and t["business_key"] == code]
    assert mine, f"{task} of {code} not in {user}'s inbox"
    return mine[0]


def _do(api: Api, user: str, task: str, code: str, data: dict | None = None) -> int:
    r = api.client.post(
        f"/api/v1/tasks/{_task_id(api, user, task, code)}/complete",
        json={"data": data or {}},
        headers=api.login(user),
    )
    return r.status_code


def _to_appraisal(api: Api, code: str) -> None:
    assert _do(api, "tiepnhan", "receive", code) == 200
    assert _do(api, "lanhdao", "assign", code, {"next_assignee": "chuyenvien"}) == 200


def _ask(api: Api, code: str, user: str = "chuyenvien", **body: Any) -> Any:
    return api.client.post(
        f"/api/v1/dossiers/{code}/request-supplement",
        json={"missing_documents": NEW_ITEMS} | body,
        headers=api.login(user),
    )


def _supplement(api: Api, code: str) -> dict:
    r = api.client.post(
        f"/api/v1/dossiers/{code}/supplement",
        json={"note": "đã nộp"},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 200, r.text
    return r.json()


def _view(api: Api, code: str) -> dict:
    return api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("lanhdao")).json()


def _text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").split())


def _shifted(value: Any, delta: timedelta) -> Any:
    """Every ISO instant inside a JSON value, `delta` earlier."""
    if isinstance(value, dict):
        return {k: _shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, delta) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        moment = datetime.fromisoformat(value)
        return (moment - delta).isoformat() if moment.tzinfo else value
    return value


def _age(api: Api, code: str, delta: timedelta) -> None:
    """Move everything the dossier and its process remember `delta` into the past: to the
    system it looks as if `delta` had passed (the clock of SpiffWorkflow's timers is real)."""
    import json

    with api.state.sessions.begin() as s:
        d = s.scalar(select(Dossier).where(Dossier.code == code))
        assert d is not None
        for name in ("received_at", "due_at", "new_due_at", "finished_at"):
            if getattr(d, name) is not None:
                setattr(d, name, getattr(d, name) - delta)
        for e in s.scalars(select(DossierEvent).where(DossierEvent.dossier_id == d.id)):
            e.at -= delta
            e.details = _shifted(dict(e.details), delta)
        for t in s.scalars(select(WorkflowTask).where(WorkflowTask.instance_id == d.instance_id)):
            t.created_at -= delta
            t.due_at = t.due_at - delta if t.due_at else None
        row = s.get(WorkflowInstance, d.instance_id)
        assert row is not None
        row.state = json.dumps(_shifted(json.loads(row.state), delta))
        row.next_timer_at = row.next_timer_at - delta if row.next_timer_at else None


def _age_until_due(api: Api, code: str) -> None:
    """Let time pass until the dossier's due date is a minute ago."""
    due = datetime.fromisoformat(_view(api, code)["due_at"])
    _age(api, code, due - datetime.now(UTC) + timedelta(minutes=1))


def _requested_ago(api: Api, code: str, ago: timedelta) -> None:
    """The pending supplement request was made `ago` before now."""
    with api.state.sessions.begin() as s:
        event = s.scalars(
            select(DossierEvent)
            .join(Dossier, Dossier.id == DossierEvent.dossier_id)
            .where(Dossier.code == code, DossierEvent.kind == "supplement_requested")
            .order_by(DossierEvent.id.desc())
            .limit(1)
        ).one()
        event.at = datetime.now(UTC) - ago


def _same(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


def _instance(api: Api, code: str) -> WorkflowInstance:
    with api.state.sessions() as s:
        d = s.scalar(select(Dossier).where(Dossier.code == code))
        assert d is not None and d.instance_id is not None
        row = s.get(WorkflowInstance, d.instance_id)
        assert row is not None
        return row


def _working(api: Api, start: str, end: str) -> timedelta:
    with api.state.sessions() as s:
        return calendar_for(s).working_time_between(
            datetime.fromisoformat(start), datetime.fromisoformat(end)
        )


def _kinds(view: dict, kind: str) -> list[dict]:
    return [e for e in view["timeline"] if e["kind"] == kind]


def test_second_supplement_during_processing_stops_the_clock_and_counts_overdue(
    api: Api,
) -> None:
    d = _receive(api, complete=False, missing_documents=["Tờ khai theo mẫu"])
    code = d["code"]
    assert _supplement(api, code)["status"] == 2  # at the desk: the clock starts now
    _to_appraisal(api, code)
    before = _view(api, code)
    assert before["status"] == 4 and before["timeliness"] == "in_time"

    r = _ask(api, code, missing_documents=[*NEW_ITEMS, NEW_ITEMS[0]], note="Thiếu giấy tờ")
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["status_name"]) == (5, "Yêu cầu bổ sung giấy tờ")
    assert got["supplement_requests"] == 2 and got["missing_documents"] == NEW_ITEMS
    assert got["timeliness"] == "overdue"  # more than one request: the scorecard rule
    stats = api.client.get("/api/v1/stats/timeliness", headers=api.login("lanhdao")).json()
    assert stats["open_overdue"] == 1 and stats["open_in_time"] == 0
    h = api.login("tiepnhan")
    text = _text(api.client.get(f"/api/v1/dossiers/{code}/slips/supplement", headers=h).content)
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in text
    assert all(text.count(item) == 1 for item in NEW_ITEMS) and "Tờ khai theo mẫu" not in text
    notes = api.client.get("/api/v1/notifications", headers=h).json()["items"]
    assert any(n["kind"] == "supplement" and n["dossier_code"] == code for n in notes)

    # The step stays in the specialist's inbox but cannot be completed while waiting.
    assert _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"}) == 409
    blocked = api.client.post(
        f"/api/v1/tasks/{_task_id(api, 'chuyenvien', 'appraise', code)}/complete",
        json={"data": {"appraisal": "eligible"}},
        headers=api.login("chuyenvien"),
    ).json()
    assert blocked["error"] == "dossier_waiting_for_supplement" and " / " in blocked["detail"]

    # The old due date passes while the dossier waits: the timer fires, no apology.
    _age_until_due(api, code)
    old_due = _view(api, code)["due_at"]
    assert fire_due_timers(api.state.sessions) == 1
    waiting = _view(api, code)
    assert _kinds(waiting, "apology") == [] and waiting["status"] == 5
    assert _instance(api, code).next_timer_at is None  # the watch waits for the supplement
    _requested_ago(api, code, timedelta(days=14))  # the applicant took two weeks
    assert not any(
        n["kind"] == "overdue"
        for n in api.client.get("/api/v1/notifications", headers=h).json()["items"]
    )

    # The supplement arrives: processing resumes, the due date moves by the time waited.
    resumed = _supplement(api, code)
    assert resumed["status"] == 4
    event = _kinds(resumed, "supplemented")[-1]["details"]
    assert _same(event["due_at_before"], old_due) and _same(resumed["due_at"], event["due_at"])
    waited = _working(api, event["requested_at"], _kinds(resumed, "supplemented")[-1]["at"])
    assert abs(waited.total_seconds() - event["waited_seconds"]) <= 1
    assert waited >= timedelta(hours=8)
    moved = _working(api, old_due, resumed["due_at"])
    assert abs((moved - waited).total_seconds()) <= 1
    assert datetime.fromisoformat(resumed["due_at"]) > datetime.now(UTC)
    assert _instance(api, code).next_timer_at == datetime.fromisoformat(resumed["due_at"])
    assert fire_due_timers(api.state.sessions) == 0
    assert resumed["timeliness"] == "overdue"  # still: two requests

    # The new due date passes with nobody acting: the worker produces the apology.
    _age_until_due(api, code)
    assert fire_due_timers(api.state.sessions) == 1
    late = _view(api, code)
    apology = _kinds(late, "apology")
    assert len(apology) == 1 and _same(apology[0]["details"]["due_at"], late["due_at"])
    text = _text(api.client.get(f"/api/v1/dossiers/{code}/slips/apology", headers=h).content)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    notes = api.client.get("/api/v1/notifications", headers=h).json()["items"]
    assert any(n["kind"] == "overdue" and n["dossier_code"] == code for n in notes)
    assert fire_due_timers(api.state.sessions) == 0  # once only

    # Processing goes on from the step where it stopped.
    assert _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"}) == 200
    assert [e["kind"] for e in late["timeline"]].count("supplement_requested") == 2
    with api.state.sessions() as s:
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == code)))
    assert {"request_supplement", "supplement"} <= actions


def test_timer_at_the_old_due_date_waits_for_the_moved_one(api: Api) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _ask(api, code).status_code == 200
    _requested_ago(api, code, timedelta(days=14))  # the applicant took two weeks
    old_due = _view(api, code)["due_at"]
    resumed = _supplement(api, code)
    assert resumed["timeliness"] == "in_time" and resumed["supplement_requests"] == 1
    assert _working(api, old_due, resumed["due_at"]) >= timedelta(hours=8)

    # Time passes beyond the old due date but not the new one: the timer fires, no apology.
    delta = datetime.fromisoformat(old_due) - datetime.now(UTC) + timedelta(minutes=1)
    _age(api, code, delta)
    assert fire_due_timers(api.state.sessions) == 1
    view = _view(api, code)
    assert _kinds(view, "apology") == [] and view["timeliness"] == "in_time"
    assert _instance(api, code).next_timer_at == datetime.fromisoformat(view["due_at"])

    _age_until_due(api, code)
    assert fire_due_timers(api.state.sessions) == 1
    late = _view(api, code)
    assert len(_kinds(late, "apology")) == 1 and late["timeliness"] == "overdue"


def test_step_time_excludes_the_time_spent_waiting(api: Api) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _ask(api, code).status_code == 200
    with api.state.sessions.begin() as s:
        d = s.scalar(select(Dossier).where(Dossier.code == code))
        assert d is not None
        step = s.scalars(
            select(WorkflowTask).where(
                WorkflowTask.instance_id == d.instance_id, WorkflowTask.task_spec == "appraise"
            )
        ).one()
        step_id, step_due = step.id, step.due_at
        # The step began two weeks ago and its official asked for a supplement at once.
        step.created_at -= timedelta(days=14, seconds=1)
    _requested_ago(api, code, timedelta(days=14))
    _supplement(api, code)
    with api.state.sessions() as s:
        moved = s.scalar(select(WorkflowTask.due_at).where(WorkflowTask.id == step_id))
        assert step_due is not None and moved is not None and moved > step_due
    assert _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"}) == 200
    handover = [
        e for e in _kinds(_view(api, code), "handover") if e["details"]["task"] == "appraise"
    ]
    assert float(handover[0]["details"]["used_days"]) < 0.01


def test_bad_supplement_requests_are_clear_4xx_and_change_nothing(api: Api) -> None:
    code = _receive(api)["code"]
    early = _ask(api, code)  # accepted, not yet forwarded to processing
    assert early.status_code == 409 and early.json()["error"] == "dossier_not_processing"
    _to_appraisal(api, code)
    for user in ("lanhdao", "tiepnhan", "chuyenvien.so"):
        r = _ask(api, code, user=user)
        assert r.status_code == 403 and r.json()["error"] == "not_step_holder", (user, r.text)
        assert " / " in r.json()["detail"]
    empty = _ask(api, code, missing_documents=[])
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "missing_documents"
    assert _ask(api, code, missing_documents=["  "]).status_code == 422
    assert _ask(api, "000.01.20.H99-990101-0001").status_code == 404
    assert api.client.post(f"/api/v1/dossiers/{code}/request-supplement", json={}).status_code in (
        401,
        422,
    )
    view = _view(api, code)
    assert view["status"] == 4 and view["supplement_requests"] == 0
    assert _kinds(view, "supplement_requested") == []

    assert _ask(api, code).status_code == 200
    again = _ask(api, code)
    assert again.status_code == 409 and again.json()["error"] == "supplement_already_pending"
    nobody = api.client.post(
        f"/api/v1/dossiers/{code}/supplement", json={}, headers=api.login("chuyenvien")
    )
    assert nobody.status_code == 403  # only the receiving desk records a supplement
    assert _view(api, code)["supplement_requests"] == 1

    withdrawn = api.client.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "Công dân rút hồ sơ"},
        headers=api.login("tiepnhan"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    closed = _ask(api, code)
    assert closed.status_code == 409 and closed.json()["error"] == "dossier_closed"
    late = api.client.post(
        f"/api/v1/dossiers/{code}/supplement", json={}, headers=api.login("tiepnhan")
    )
    assert late.status_code == 409 and late.json()["error"] == "no_supplement_pending"


def test_liaison_dossier_pauses_and_resumes_across_agencies(api: Api) -> None:
    code = _receive(api, procedure_code="3.000722")["code"]
    assert _do(api, "tiepnhan", "receive", code) == 200
    assert _do(api, "chuyenvien", "appraise_birth", code, {"appraisal": "eligible"}) == 200
    assert _do(api, "lanhdao", "approve_birth", code, {"decision": "approve"}) == 200
    # The police ask for a document; social insurance cannot go on meanwhile either.
    assert _ask(api, code, user="congan", missing_documents=["Sổ hộ khẩu"]).status_code == 200
    assert _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"}) == 409
    assert _supplement(api, code)["status"] == 4
    assert _do(api, "congan", "register_residence", code, {"residence_registered": True}) == 200
    assert _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"}) == 200
    assert _do(api, "tiepnhan", "return_result", code) == 200
    assert _view(api, code)["status"] == 10
