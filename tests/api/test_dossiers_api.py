"""One-stop dossiers over HTTP with the demo users: reception, processing, liaison, lookup."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import build_state, create_app
from api.settings import Settings
from engine.agencies import create_agency
from engine.auth import principal_for
from engine.dossiers.reception import Applicant, Reception, receive
from engine.users import create_user
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


def test_the_answer_to_a_reception_gives_times_as_reading_the_dossier_does(api: Api) -> None:
    received = _receive(api)
    read = api.client.get(f"/api/v1/dossiers/{received['code']}", headers=api.login("tiepnhan"))
    for key in ("received_at", "due_at"):
        assert received[key] == read.json()[key], key
        assert received[key].endswith("Z"), received[key]


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
    mid = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()
    assert mid["status"] == 4 and mid["finished_at"] is None  # social insurance still works
    _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"})
    # Only the return is left: processed (9), and timeliness counts to now, not to the return.
    done = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()
    assert done["status"] == 9 and done["finished_at"] is not None
    _do(api, "tiepnhan", "return_result", code)
    got = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()
    assert got["status"] == 10 and got["finished_at"] == done["finished_at"]
    assert [e["status"] for e in got["timeline"] if e["status"]] == [1, 2, 4, 9, 10]
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
        ({"missing_documents": ["Giấy chứng sinh"]}, 422),  # complete, yet something missing
        ({"competent_agency": "000.00.40.H99"}, 422),  # the police do not register births
        ({"competent_agency": "000.00.99.H99"}, 404),
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


def test_list_by_reception_period_includes_from_and_excludes_to(api: Api) -> None:
    day = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    received = {n: day - timedelta(days=n) for n in (1, 3, 5)}  # paper dossiers entered late
    codes = {n: _receive(api, received_at=at.isoformat())["code"] for n, at in received.items()}
    h = api.login("tiepnhan")

    def listed(**period: datetime) -> set[str]:
        params = {k.rstrip("_"): v.isoformat() for k, v in period.items()}
        r = api.client.get("/api/v1/dossiers", params=params, headers=h)
        assert r.status_code == 200, r.text
        return {i["code"] for i in r.json()["items"]}

    assert listed(from_=received[3]) == {codes[1], codes[3]}  # from: inclusive
    assert listed(to=received[3]) == {codes[5]}  # to: exclusive
    assert listed(from_=received[5], to=received[1]) == {codes[5], codes[3]}
    assert listed(from_=day) == set()
    bad = api.client.get("/api/v1/dossiers", params={"from": "hôm qua"}, headers=h)
    assert bad.status_code == 422 and "from" in bad.text


def test_files_attached_to_a_dossier_follow_it_to_the_competent_department(api: Api) -> None:
    # Business registration (2.001610): decided by a department of the province.
    code = _receive(api, procedure_code="2.001610", competent_agency="000.00.10.H99")["code"]
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
        "procedure_code": "2.001610",  # decided by a department
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


def _total(api: Api, user: str = "tiepnhan") -> int:
    total: int = api.client.get("/api/v1/dossiers", headers=api.login(user)).json()["total"]
    return total


def _refused(r: Response, field: str, code: str, *words: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == code and [f["field"] for f in body["fields"]] == [field]
    assert all(w in body["detail"] for w in words), body["detail"]


def test_complete_dossier_listing_missing_documents_is_refused_not_half_accepted(
    api: Api,
) -> None:
    h = api.login("tiepnhan")
    body = {
        "procedure_code": "1.001193",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
        "missing_documents": ["Giấy chứng sinh"],
    }
    r = api.client.post("/api/v1/dossiers", json=body, headers=h)
    _refused(r, "missing_documents", "invalid_input", "complete=false", "missing_documents")
    assert _total(api) == 0
    # The same list with complete=false is the supplement request the official meant.
    d = api.client.post("/api/v1/dossiers", json=body | {"complete": False}, headers=h).json()
    assert d["status"] == 5 and d["missing_documents"] == ["Giấy chứng sinh"]


def test_desk_cannot_route_a_dossier_to_an_agency_of_the_wrong_kind(api: Api) -> None:
    h = api.login("tiepnhan")
    body = {"procedure_code": "1.001193", "applicant": APPLICANT, "channel": "counter"}
    for agency in ("000.00.40.H99", "000.00.10.H99", "000.00.30.H99"):  # police, dept, centre
        r = api.client.post(
            "/api/v1/dossiers",
            json=body | {"complete": True, "competent_agency": agency},
            headers=h,
        )
        _refused(r, "competent_agency", "competent_wrong_kind", agency, "1.001193", "commune_pc")
    assert _total(api) == 0
    # The provincial police are competent for a judicial record extract (3.000333).
    d = _receive(api, procedure_code="3.000333", competent_agency="000.00.40.H99")
    assert d["competent_agency"] == "000.00.40.H99" and d["status"] == 2


def _other_province(api: Api) -> None:
    """A second province, H98, beside the demo one: its committee, police and a commune."""
    with api.state.sessions.begin() as s:
        create_agency(s, "000.00.00.H98", "UBND tỉnh Hà Lâm", "province_pc")
        create_agency(s, "000.00.40.H98", "Công an tỉnh Hà Lâm", "police", "000.00.00.H98")
        create_agency(s, "000.01.20.H98", "UBND xã Tân Lập", "commune_pc", "000.00.00.H98")


def test_desk_receives_for_competent_agencies_of_its_own_province_only(api: Api) -> None:
    """Non-boundary reception (Decree 118/2025) stops at the province's border."""
    _other_province(api)
    elsewhere = _receive(api, competent_agency="000.02.20.H99")  # another commune, same province
    assert elsewhere["competent_agency"] == "000.02.20.H99"
    assert elsewhere["code"].startswith(f"{COMMUNE}-")
    h = api.login("tiepnhan")
    base = {"applicant": APPLICANT, "channel": "counter", "complete": True}
    for procedure, agency in (("1.001193", "000.01.20.H98"), ("3.000333", "000.00.40.H98")):
        r = api.client.post(
            "/api/v1/dossiers",
            json=base | {"procedure_code": procedure, "competent_agency": agency},
            headers=h,
        )
        _refused(r, "competent_agency", "competent_outside_province", agency, "province")
    assert _total(api) == 1


def test_province_is_the_top_level_agency_below_a_ministry_at_any_depth(api: Api) -> None:
    """Two provinces under one national node: they share an ancestor, not a province."""
    with api.state.sessions.begin() as s:
        create_agency(s, "000.00.00.G01", "Bộ Nội vụ (thử)", "ministry")
        for p in ("H97", "H96"):
            create_agency(s, f"000.00.00.{p}", f"UBND tỉnh {p}", "province_pc", "000.00.00.G01")
            create_agency(s, f"000.01.00.{p}", f"UBND huyện {p}", "district_pc", f"000.00.00.{p}")
            create_agency(s, f"000.01.20.{p}", f"UBND xã {p}", "commune_pc", f"000.01.00.{p}")
        create_agency(s, "000.01.21.H97", "UBND xã Đồi Thông", "commune_pc", "000.01.00.H97")
        create_user(
            s, "tiepnhan.h97", "Mai Thị Nhận", "000.01.20.H97", ["reception"], "matkhau-h97"
        )
    h = api.login("tiepnhan.h97", "matkhau-h97")
    base = {"procedure_code": "1.001193", "applicant": APPLICANT, "channel": "post"}
    ok = api.client.post(
        "/api/v1/dossiers",
        json=base | {"complete": True, "competent_agency": "000.01.21.H97"},
        headers=h,
    )
    assert ok.status_code == 201 and ok.json()["competent_agency"] == "000.01.21.H97", ok.text
    r = api.client.post(
        "/api/v1/dossiers",
        json=base | {"complete": True, "competent_agency": "000.01.20.H96"},
        headers=h,
    )
    _refused(r, "competent_agency", "competent_outside_province", "000.01.20.H96")
    assert _total(api, "admin") == 0  # the demo province's admin is not above H97


def _until_refused(ask: Callable[[], Response], burst: int) -> tuple[list[int], Response]:
    """Ask until refused: the statuses answered before, and the refusal. The bucket holds
    `burst` and refills one a second, so a slow machine may get one more per second taken."""
    started, answered = time.monotonic(), []
    for _ in range(burst + 100):
        r = ask()
        if r.status_code == 429:
            break
        answered.append(r.status_code)
    elapsed = time.monotonic() - started
    assert burst <= len(answered) <= burst + int(elapsed) + 1, (len(answered), elapsed)
    return answered, r


def test_public_lookup_allows_a_burst_of_30_then_429_for_that_address_only(api: Api) -> None:
    code = _receive(api)["code"]
    url = f"/api/v1/public/dossiers/{code}"
    # A fresh address: the bucket belongs to this app, but keep clear of "testclient".
    citizen = TestClient(api.client.app, client=("203.0.113.5", 50000))
    answered, r = _until_refused(lambda: citizen.get(url), burst=30)
    assert set(answered) == {200}
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "rate_limited"
    assert "too many lookups" in r.json()["detail"] and "thử lại" in r.json()["detail"]
    # The citizen is told when to come back, and is served again then.
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    time.sleep(int(r.headers["Retry-After"]))
    assert citizen.get(url).status_code == 200
    neighbour = TestClient(api.client.app, client=("198.51.100.7", 50000))
    assert neighbour.get(url).status_code == 200
    # Officials are not rate-limited by a citizen's lookups.
    assert api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).is_success


def test_public_lookup_counts_an_ipv6_client_by_its_64_network(api: Api) -> None:
    url = "/api/v1/public/dossiers/000.01.20.H99-991231-9999"
    first = TestClient(api.client.app, client=("2001:db8:1:2::1", 50000))
    _until_refused(lambda: first.get(url), burst=30)
    # Another address of the same /64 shares the bucket; the next /64 does not.
    same = TestClient(api.client.app, client=("2001:db8:1:2:ffff::9", 50000))
    assert same.get(url).status_code == 429
    other = TestClient(api.client.app, client=("2001:db8:1:3::1", 50000))
    assert other.get(url).status_code == 404


def test_a_full_address_table_never_resets_a_throttled_address(api: Api) -> None:
    from api.routes.dossiers import _Bucket

    bucket = _Bucket(rate=1.0, burst=3, capacity=50)
    while not bucket.take("203.0.113.9"):
        pass
    # Addresses that come and go fill the table many times over...
    for n in range(500):
        bucket.take(f"198.51.100.{n % 250}-{n}")
    # ...and the address that used up its bucket is still held back.
    assert bucket.take("203.0.113.9") > 0


def test_public_lookup_burst_is_a_setting(
    db_url: str, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, demo=True, public_lookup_burst=2
    )
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
        url = "/api/v1/public/dossiers/000.01.20.H99-991231-9999"
        answered, r = _until_refused(lambda: client.get(url), burst=2)
        assert set(answered) == {404} and r.status_code == 429
    state.engine.dispose()
