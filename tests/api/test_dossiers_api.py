"""One-stop dossiers over HTTP with the demo users: reception, processing, liaison, lookup."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.dossiers.reception import Applicant, Reception, receive
from storage.models import AuditEvent, User
from tests.conftest import Api

APPLICANT = {"full_name": "Nguyễn Thị Hoa", "id_number": "001190012345", "phone": "0912 345 678"}
COMMUNE = "000.01.20.H99"


def _receive(api: Api, **over: object) -> dict:
    body = {
        "procedure_code": "1.001193",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
    } | over
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan"))
    assert r.status_code == 201, r.text
    return r.json()


def _do(api: Api, user: str, task: str, code: str, data: dict | None = None) -> None:
    h = api.login(user)
    items = api.client.get("/api/v1/tasks?limit=200", headers=h).json()["items"]
    mine = [t for t in items if t["task"] == task and t["business_key"] == code]
    assert mine, (
        f"{task} of {code} not in {user}'s inbox: {[(t['task'], t['business_key']) for t in items]}"
    )
    r = api.client.post(
        f"/api/v1/tasks/{mine[0]['id']}/complete", json={"data": data or {}}, headers=h
    )
    assert r.status_code == 200, r.text


def test_birth_registration_runs_from_reception_to_return(api: Api) -> None:
    d = _receive(api)
    assert d["code"].startswith(f"{COMMUNE}-") and d["code"].endswith("-0001")
    assert (d["status"], d["status_name"]) == (2, "Được tiếp nhận")
    assert d["due_at"] is not None
    code = d["code"]
    _do(api, "tiepnhan", "receive", code)
    assert (
        api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()["status"]
        == 4
    )
    _do(api, "lanhdao", "assign", code, {"next_assignee": "chuyenvien"})
    _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"})
    _do(api, "lanhdao", "approve", code, {"decision": "approve"})
    _do(api, "vanthu", "issue_result", code)
    _do(api, "tiepnhan", "return_result", code)
    got = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("lanhdao")).json()
    assert (got["status"], got["status_name"]) == (10, "Đã trả kết quả")
    assert got["timeliness"] in ("early", "on_time")
    handovers = [e for e in got["timeline"] if e["kind"] == "handover"]
    assert [e["details"]["task"] for e in handovers] == [
        "receive",
        "assign",
        "appraise",
        "approve",
        "issue_result",
        "return_result",
    ]
    assert (
        handovers[2]["by"] == "chuyenvien" and handovers[2]["details"]["allowed_days"] is not None
    )
    assert [e["status"] for e in got["timeline"] if e["status"]] == [1, 2, 4, 9, 10]


def test_liaison_birth_residence_insurance_crosses_three_agencies(api: Api) -> None:
    code = _receive(api, procedure_code="3.000722")["code"]
    _do(api, "tiepnhan", "receive", code)
    _do(api, "chuyenvien", "appraise_birth", code, {"appraisal": "eligible"})
    _do(api, "lanhdao", "approve_birth", code, {"decision": "approve"})
    # the police and social insurance see and work the dossier in their own inboxes
    assert (
        api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("congan")).status_code == 200
    )
    _do(api, "congan", "register_residence", code, {"residence_registered": True})
    _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"})
    _do(api, "tiepnhan", "return_result", code)
    got = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()
    assert got["status"] == 10
    by = {e["details"].get("task"): e["by"] for e in got["timeline"] if e["kind"] == "handover"}
    assert by["register_residence"] == "congan" and by["issue_insurance_card"] == "bhxh"


def test_incomplete_dossier_waits_for_supplement_then_starts_the_clock(api: Api) -> None:
    d = _receive(
        api, complete=False, missing_documents=["Giấy chứng sinh", "Giấy chứng sinh", "CCCD của mẹ"]
    )
    assert d["status"] == 5 and d["due_at"] is None and d["instance_id"] is None
    assert d["missing_documents"] == ["Giấy chứng sinh", "CCCD của mẹ"]  # each item once
    h = api.login("tiepnhan")
    r = api.client.post(
        f"/api/v1/dossiers/{d['code']}/supplement", json={"note": "đã nộp đủ"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 2 and r.json()["due_at"] and r.json()["instance_id"]
    again = api.client.post(f"/api/v1/dossiers/{d['code']}/supplement", json={}, headers=h)
    assert again.status_code == 409 and again.json()["error"] == "no_supplement_pending"


def test_refused_dossier_records_the_reason_and_starts_nothing(api: Api) -> None:
    d = _receive(api, complete=False, refusal_reason="Không thuộc thẩm quyền của UBND xã")
    assert d["status"] == 3 and d["status_name"] == "Không được tiếp nhận"
    assert d["refusal_reason"] == "Không thuộc thẩm quyền của UBND xã"
    assert d["instance_id"] is None


def test_backdated_paper_dossier_counts_from_its_reception_and_is_audited(api: Api) -> None:
    received = "2026-02-13T09:00:00+07:00"  # a Friday before Tết 2026
    d = _receive(api, procedure_code="1.004873", received_at=received)  # 3 working days
    assert d["code"].split("-")[1] == "260213"
    assert datetime.fromisoformat(d["due_at"]) == datetime.fromisoformat(
        "2026-02-25T09:00:00+07:00"
    )
    assert d["timeliness"] == "overdue"
    with api.state.sessions.begin() as s:
        assert (
            s.scalar(select(AuditEvent.id).where(AuditEvent.action == "backdated_reception"))
            is not None
        )


def test_public_lookup_shows_status_but_never_identity(api: Api) -> None:
    code = _receive(api)["code"]
    r = api.client.get(f"/api/v1/public/dossiers/{code}")
    assert r.status_code == 200
    body = r.json()
    assert body["status_name"] == "Được tiếp nhận" and body["procedure_name"] == "Đăng ký khai sinh"
    text = r.text
    for secret in (APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["full_name"]):
        assert secret not in text
    assert api.client.get("/api/v1/public/dossiers/000.01.20.H99-991231-9999").status_code == 404


def test_officials_of_uninvolved_agencies_cannot_read_a_dossier(api: Api) -> None:
    code = _receive(api)["code"]
    r = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("chuyenvien.so"))
    assert r.status_code == 403
    assert api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("admin")).status_code == 200


def test_bad_receptions_are_clear_4xx_and_change_nothing(api: Api) -> None:
    h = api.login("tiepnhan")
    base = {
        "procedure_code": "1.001193",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
    }
    cases = [
        ({"procedure_code": "9.999999"}, 404),
        ({"applicant": {"id_number": "001190012345", "phone": "0912345678"}}, 422),
        ({"applicant": {"full_name": "A", "phone": "0912345678"}}, 422),
        ({"channel": "fax"}, 422),
        ({"complete": False}, 422),
        ({"received_at": (datetime.now().astimezone() + timedelta(days=2)).isoformat()}, 422),
    ]
    for over, status in cases:
        r = api.client.post("/api/v1/dossiers", json=base | over, headers=h)
        assert r.status_code == status, (over, r.text)
        assert "detail" in r.json()
    assert api.client.get("/api/v1/dossiers", headers=h).json()["total"] == 0
    r = api.client.post("/api/v1/dossiers", json=base, headers=api.login("chuyenvien"))
    assert r.status_code == 403


def test_list_filters_and_pagination(api: Api) -> None:
    codes = [_receive(api)["code"] for _ in range(3)]
    _receive(api, complete=False, missing_documents=["Tờ khai"])
    h = api.login("tiepnhan")
    page = api.client.get("/api/v1/dossiers?limit=2", headers=h).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    waiting = api.client.get("/api/v1/dossiers?status=5", headers=h).json()
    assert waiting["total"] == 1
    accepted = api.client.get("/api/v1/dossiers?status=2&procedure=1.001193", headers=h).json()
    assert sorted(i["code"] for i in accepted["items"]) == sorted(codes)
    assert api.client.get("/api/v1/dossiers?overdue=true", headers=h).json()["total"] == 0


def test_files_attached_to_a_dossier_follow_it_to_the_competent_department(api: Api) -> None:
    code = _receive(api, procedure_code="1.001193", competent_agency="000.00.10.H99")["code"]
    h = api.login("tiepnhan")
    r = api.client.post(
        f"/api/v1/dossiers/{code}/files",
        files={"file": ("to-khai.pdf", b"%PDF-1.4 test", "application/pdf")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    listed = api.client.get(
        f"/api/v1/dossiers/{code}/files", headers=api.login("chuyenvien.so")
    ).json()
    assert [f["id"] for f in listed] == [fid]
    got = api.client.get(f"/api/v1/files/{fid}", headers=api.login("chuyenvien.so"))
    assert got.status_code == 200 and got.content == b"%PDF-1.4 test"
    assert api.client.get(f"/api/v1/files/{fid}", headers=api.login("congan")).status_code == 403


def test_fifty_concurrent_receptions_get_unique_gap_free_codes(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        me = principal_for(s, s.scalar(select(User.id).where(User.username == "tiepnhan")))
    reception = Reception(
        "1.000656", Applicant("Trần Văn B", "001080000001", "0987654321"), "counter", True
    )
    codes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def one() -> None:
        barrier.wait()
        try:
            with sessions.begin() as s:
                codes.append(receive(s, me, reception).code)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    sequences = sorted(int(c.rsplit("-", 1)[1]) for c in codes)
    assert sequences == list(range(1, 51))
    assert len({c.rsplit("-", 1)[0] for c in codes}) == 1


def test_service_centre_receives_for_a_department_and_the_result_comes_back(api: Api) -> None:
    """Non-boundary reception (Decree 118/2025): received at the provincial centre, processed
    by the competent department, returned where it was received."""
    h = api.login("tiepnhan.tt")
    body = {
        "procedure_code": "1.004873",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
        "competent_agency": "000.00.10.H99",
    }
    r = api.client.post("/api/v1/dossiers", json=body, headers=h)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert code.startswith("000.00.30.H99-") and r.json()["competent_agency"] == "000.00.10.H99"
    _do(api, "tiepnhan.tt", "receive", code)
    _do(api, "lanhdao.so", "assign", code, {"next_assignee": "chuyenvien.so"})
    _do(api, "chuyenvien.so", "appraise", code, {"appraisal": "eligible"})
    _do(api, "lanhdao.so", "approve", code, {"decision": "approve"})
    _do(api, "vanthu.so", "issue_result", code)
    _do(api, "tiepnhan.tt", "return_result", code)
    assert api.client.get(f"/api/v1/public/dossiers/{code}").json()["status"] == 10
