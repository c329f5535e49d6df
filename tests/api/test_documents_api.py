"""Official documents over HTTP with the demo users: outgoing and incoming flows, registers."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.documents.drafting import DocumentInput, Party, create_document
from engine.documents.numbering import assign_number
from signing.keys import load_pkcs12
from signing.pades import PadesLevel, PadesSigner
from storage.models import Document, User, WorkflowTask
from tests.conftest import Api
from tests.pki import PASSWORD, PkiServer, TestPki
from tests.signing.pdfs import make_pdf

DEPARTMENT = "000.00.10.H99"
COMMUNE = "000.01.20.H99"
PROVINCE = "000.00.00.H99"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.generate("rsa")


def _upload(api: Api, user: str, content: bytes, name: str = "du-thao.pdf") -> str:
    r = api.client.post(
        "/api/v1/files", files={"file": (name, content, "application/pdf")}, headers=api.login(user)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _task(api: Api, user: str, task: str, doc_id: int) -> int:
    items = api.client.get("/api/v1/tasks?limit=200", headers=api.login(user)).json()["items"]
    mine = [t for t in items if t["task"] == task and t["business_key"] == f"VB-{doc_id}"]
    assert mine, f"{task} of VB-{doc_id} not in {user}'s inbox: {[t['task'] for t in items]}"
    return int(mine[0]["id"])


def _do(api: Api, user: str, task: str, doc_id: int, data: dict | None = None) -> None:
    r = api.client.post(
        f"/api/v1/tasks/{_task(api, user, task, doc_id)}/complete",
        json={"data": data or {}},
        headers=api.login(user),
    )
    assert r.status_code == 200, r.text


def _doc(api: Api, user: str, doc_id: int) -> dict:
    r = api.client.get(f"/api/v1/documents/{doc_id}", headers=api.login(user))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _current_main(api: Api, user: str, doc_id: int) -> bytes:
    main = [f for f in _doc(api, user, doc_id)["files"] if f["role"] == "main"][0]
    return bytes(api.client.get(f"/api/v1/files/{main['id']}", headers=api.login(user)).content)


@contextmanager
def trusted_pki(api: Api) -> Iterator[tuple[TestPki, str]]:
    """A test PKI served over HTTP (TSA, OCSP, CRL), its root added to the trust store by the
    admin; yields it and its TSA's URL."""
    with PkiServer.running() as server:
        pki = server.add("rsa", "rsa")
        root = pki.root.cert.public_bytes(serialization.Encoding.PEM)
        r = api.client.post(
            "/api/v1/admin/trust",
            files={"file": ("root.pem", root, "application/x-pem-file")},
            headers=api.login("admin"),
        )
        assert r.status_code == 201, r.text
        yield pki, server.tsa_url("rsa")


def _sign_and_upload(
    api: Api, user: str, doc_id: int, pki: TestPki, who: str, tsa: str | None = None
) -> dict:
    key = load_pkcs12(pki.pkcs12(getattr(pki, who)), PASSWORD)
    level = PadesLevel.B_T if tsa else PadesLevel.B_B
    signed = PadesSigner(key, level, tsa_url=tsa).sign(_current_main(api, user, doc_id))
    r = api.client.post(
        f"/api/v1/documents/{doc_id}/signed",
        files={"file": ("ky-so.pdf", signed, "application/pdf")},
        headers=api.login(user),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _outgoing(api: Api, **over: object) -> dict:
    body = {
        "direction": "outgoing",
        "type_name": "Công văn",
        "notation": "STP-VP",
        "subject": "Về việc hướng dẫn đăng ký khai sinh trực tuyến",
        "signer": {"name": "Đỗ Quang Lãnh", "position": "Giám đốc"},
        "recipients": [{"code": COMMUNE, "name": "UBND xã Hoà Bình"}],
        "files": [{"file_id": _upload(api, "chuyenvien.so", make_pdf()), "role": "main"}],
    } | over
    r = api.client.post("/api/v1/documents", json=body, headers=api.login("chuyenvien.so"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_outgoing_document_is_drafted_reviewed_signed_numbered_sealed_and_dispatched(
    api: Api, pki: TestPki
) -> None:
    doc = _outgoing(
        api,
        recipients=[
            {"code": COMMUNE, "name": "UBND xã Hoà Bình"},
            {"code": "000.99.99.H99", "name": "Cơ quan không có trên mạng"},
        ],
    )
    did = doc["id"]
    assert (doc["status"], doc["number"], doc["issuer_code"]) == ("draft", "", DEPARTMENT)
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "return", "comment": "Sửa trích yếu"})
    assert _doc(api, "chuyenvien.so", did)["status"] == "draft"
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve", "next_assignee": "lanhdao.so"})
    assert _doc(api, "lanhdao.so", did)["status"] == "signing"

    # The generic task route cannot skip the signature.
    r = api.client.post(
        f"/api/v1/tasks/{_task(api, 'lanhdao.so', 'sign_document', did)}/complete",
        json={"data": {"signed_file_id": "00000000-0000-0000-0000-000000000000"}},
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 409 and r.json()["error"] == "signature_required"
    # A clerk cannot sign in the leader's place.
    r = api.client.post(
        f"/api/v1/documents/{did}/signed",
        files={"file": ("x.pdf", make_pdf(), "application/pdf")},
        headers=api.login("vanthu.so"),
    )
    assert r.status_code == 403

    signed = _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    assert signed["step"] == "sign_document" and signed["file"]["version"] == 2
    assert signed["signer"] == "Nguyễn Văn Ánh"
    _do(api, "vanthu.so", "number", did)
    numbered = _doc(api, "vanthu.so", did)
    year = datetime.now(UTC).year
    assert (numbered["number"], numbered["code"], numbered["year"]) == ("01", "01/STP-VP", year)
    assert numbered["status"] == "sealing" and numbered["issued_date"] is not None
    sealed = _sign_and_upload(api, "vanthu.so", did, pki, "seal")
    assert sealed["step"] == "seal" and sealed["file"]["version"] == 3

    final = _doc(api, "chuyenvien.so", did)
    assert final["status"] == "dispatched"
    kinds = [e["kind"] for e in final["timeline"]]
    assert kinds[:4] == ["created", "submitted", "returned", "submitted"]
    assert kinds.index("signed") < kinds.index("numbered") < kinds.index("sealed")
    assert kinds[-1] == "dispatched"

    deliveries = api.client.get(
        f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so")
    ).json()
    by_code = {d["recipient_code"]: d for d in deliveries}
    assert by_code[COMMUNE]["state"] == "pending" and by_code[COMMUNE]["local"] is True
    assert by_code["000.99.99.H99"]["state"] == "undeliverable"
    assert "000.99.99.H99" in by_code["000.99.99.H99"]["last_error"]

    register = api.client.get(
        f"/api/v1/documents/registers/outgoing?year={year}", headers=api.login("vanthu.so")
    )
    assert register.status_code == 200
    rows = list(csv.reader(io.StringIO(register.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["Số", "Ký hiệu"]
    assert rows[1][:2] == ["01", "STP-VP"] and "Đỗ Quang Lãnh" in rows[1]


def test_signed_upload_must_extend_the_current_version(api: Api, pki: TestPki) -> None:
    did = _outgoing(api)["id"]
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    other = PadesSigner(key, PadesLevel.B_B).sign(make_pdf(text="Mot van ban khac"))
    r = api.client.post(
        f"/api/v1/documents/{did}/signed",
        files={"file": ("x.pdf", other, "application/pdf")},
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 422 and "current version" in r.json()["detail"]
    unsigned = _current_main(api, "lanhdao.so", did) + b"\n% appended, no signature\n"
    r = api.client.post(
        f"/api/v1/documents/{did}/signed",
        files={"file": ("x.pdf", unsigned, "application/pdf")},
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 422
    assert _doc(api, "lanhdao.so", did)["status"] == "signing"
    assert [f["version"] for f in _doc(api, "lanhdao.so", did)["files"]] == [1]


def _incoming(api: Api, user: str = "vanthu", **over: object) -> dict:
    body = {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "125",
        "notation": "UBND-VP",
        "issued_date": "2026-11-20",
        "issuer": {"code": PROVINCE, "name": "UBND tỉnh Lam Sơn"},
        "subject": "Về việc triển khai chuyển đổi số cấp xã",
        "urgency": 1,
    } | over
    r = api.client.post("/api/v1/documents", json=body, headers=api.login(user))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_incoming_paper_document_is_registered_directed_assigned_and_processed(api: Api) -> None:
    doc = _incoming(api)
    did = doc["id"]
    assert (doc["status"], doc["arrival_number"], doc["urgency_name"]) == (
        "registered",
        "01",
        "Khẩn",
    )
    # Not shared yet: the department cannot see the commune's document.
    assert (
        api.client.get(f"/api/v1/documents/{did}", headers=api.login("chuyenvien.so")).status_code
        == 404
    )
    _do(
        api,
        "lanhdao",
        "direct",
        did,
        {
            "opinion": "Giao công chức văn phòng chủ trì, Sở Tư pháp phối hợp",
            "coordinating_agencies": [DEPARTMENT],
            "due_days": 2,
        },
    )
    directed = _doc(api, "lanhdao", did)
    assert directed["status"] == "directed" and directed["handling_due_at"] is not None
    assert directed["timeline"][-1]["note"].startswith("Giao công chức")
    # The coordinating unit now reads it; an uninvolved agency still does not.
    assert _doc(api, "chuyenvien.so", did)["subject"] == doc["subject"]
    assert (
        api.client.get(f"/api/v1/documents/{did}", headers=api.login("congan")).status_code == 404
    )
    _do(api, "lanhdao", "assign", did, {"next_assignee": "chuyenvien"})
    assert _doc(api, "chuyenvien", did)["status"] == "processing"
    _do(api, "chuyenvien", "process", did, {"result": "Đã triển khai, báo cáo kèm theo"})
    done = _doc(api, "chuyenvien", did)
    assert done["status"] == "done" and done["finished_at"] is not None

    register = api.client.get(
        f"/api/v1/documents/registers/incoming?year={datetime.now(UTC).year}&format=xlsx",
        headers=api.login("vanthu"),
    )
    assert register.status_code == 200 and register.content[:2] == b"PK"
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(register.content)).active
    assert ws is not None
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][0] == "Số đến" and values[1][0] == "01" and values[1][3] == "125/UBND-VP"


def test_duplicate_incoming_document_is_flagged(api: Api) -> None:
    first = _incoming(api)
    second = _incoming(api)
    assert first["duplicate_of"] is None and second["duplicate_of"] == first["id"]
    assert second["arrival_number"] == "02"
    assert any(e["kind"] == "duplicate" for e in _doc(api, "vanthu", second["id"])["timeline"])
    flagged = api.client.get(
        "/api/v1/documents?duplicates=true", headers=api.login("vanthu")
    ).json()
    assert [d["id"] for d in flagged["items"]] == [second["id"]]


def test_secret_documents_have_their_own_series_and_need_clearance(api: Api) -> None:
    _incoming(api)
    secret = _incoming(api, secrecy=1, code_number="7", notation="M-UBND")
    assert secret["arrival_number"] == "01" and secret["register"] == "incoming_secret"
    assert _incoming(api, code_number="126")["arrival_number"] == "02"
    # chuyenvien (no clearance) works in the same commune but never sees the secret one.
    h = api.login("chuyenvien")
    assert api.client.get(f"/api/v1/documents/{secret['id']}", headers=h).status_code == 404
    listed = api.client.get("/api/v1/documents?direction=incoming", headers=h).json()
    assert listed["total"] == 2 and secret["id"] not in [d["id"] for d in listed["items"]]
    year = datetime.now(UTC).year
    r = api.client.get(f"/api/v1/documents/registers/incoming?year={year}&secret=true", headers=h)
    assert r.status_code == 403
    r = api.client.get(
        f"/api/v1/documents/registers/incoming?year={year}&secret=true",
        headers=api.login("vanthu"),
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][3] == "7/M-UBND" and rows[1][7] == "Mật"
    # Nobody creates a document above their own clearance.
    r = api.client.post(
        "/api/v1/documents",
        json={
            "direction": "outgoing",
            "type_name": "Công văn",
            "subject": "Tối mật",
            "secrecy": 2,
        },
        headers=h,
    )
    assert r.status_code == 403


def test_list_is_paginated_and_filtered(api: Api) -> None:
    for n in range(5):
        _incoming(api, code_number=str(200 + n), subject=f"Văn bản số {n}")
    h = api.login("vanthu")
    page = api.client.get("/api/v1/documents?limit=2&offset=2", headers=h).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    found = api.client.get("/api/v1/documents?q=VĂN BẢN SỐ 3", headers=h).json()
    assert [d["code"] for d in found["items"]] == ["203/UBND-VP"]
    assert api.client.get("/api/v1/documents?direction=outgoing", headers=h).json()["total"] == 0


@pytest.mark.parametrize(
    ("user", "body", "status"),
    [
        ("vanthu", {"direction": "sideways"}, 422),
        ("vanthu", {"code_number": None}, 422),
        ("vanthu", {"issuer": None}, 422),
        ("vanthu", {"urgency": 7}, 422),
        ("vanthu", {"unknown": 1}, 422),
        ("chuyenvien", {}, 403),  # only clerks register incoming documents
        ("vanthu", {"files": [{"file_id": "0e0c5b8a-2f1e-4c35-9e0a-0c3a0e4e9d11"}]}, 404),
        (
            "vanthu",
            {"recipients": [{"code": COMMUNE, "name": "a"}, {"code": COMMUNE, "name": "b"}]},
            422,
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    api: Api, user: str, body: dict, status: int
) -> None:
    base = {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "1",
        "issued_date": "2026-11-20",
        "issuer": {"code": PROVINCE, "name": "UBND tỉnh"},
        "subject": "Thử",
    }
    r = api.client.post("/api/v1/documents", json=base | body, headers=api.login(user))
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert api.client.get("/api/v1/documents", headers=api.login("vanthu")).json()["total"] == 0


def test_unknown_or_foreign_document_is_404_and_bad_register_year_is_422(api: Api) -> None:
    h = api.login("vanthu")
    assert api.client.get("/api/v1/documents/999999", headers=h).status_code == 404
    assert api.client.get("/api/v1/documents/999999/deliveries", headers=h).status_code == 404
    r = api.client.get("/api/v1/documents/registers/incoming?year=12", headers=h)
    assert r.status_code == 422


def test_refusing_an_electronic_arrival_needs_a_reason(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
        doc = Document(
            agency_id=clerk.agency_id,
            direction="incoming",
            status="received",
            type_name="Công văn",
            code_number="9",
            notation="SXD-VP",
            issued_date=date(2026, 11, 1),
            issuer_code="000.00.11.H99",
            issuer_name="Sở Xây dựng",
            subject="Gửi nhầm",
            arrival_at=datetime.now(UTC),
        )
        s.add(doc)
        s.flush()
        from engine.documents.drafting import start_incoming

        start_incoming(s, doc, None, registered=False)
        did = doc.id
    r = api.client.post(
        f"/api/v1/tasks/{_task(api, 'vanthu', 'register', did)}/complete",
        json={"data": {"decision": "refuse"}},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 422
    _do(api, "vanthu", "register", did, {"decision": "refuse", "reason": "Gửi nhầm nơi nhận"})
    refused = _doc(api, "vanthu", did)
    assert refused["status"] == "refused" and refused["arrival_number"] == ""


def test_twenty_concurrent_registrations_get_gap_free_arrival_numbers(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
    numbers: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def one(n: int) -> None:
        barrier.wait()
        try:
            with sessions.begin() as s:
                doc = create_document(
                    s,
                    clerk,
                    DocumentInput(
                        direction="incoming",
                        type_name="Công văn",
                        subject=f"Văn bản {n}",
                        code_number=str(n),
                        issued_date=date(2026, 11, 20),
                        issuer=Party(PROVINCE, "UBND tỉnh"),
                    ),
                )
                numbers.append(int(doc.number or 0))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))


def test_numbers_restart_at_01_on_the_first_of_january(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))

        def doc(n: int) -> Document:
            return create_document(
                s,
                clerk,
                DocumentInput(
                    direction="outgoing",
                    type_name="Công văn",
                    subject=f"Văn bản {n}",
                    notation="UBND-VP",
                ),
            )

        # 31 December, 23:30 in Vietnam is still the old year; 00:10 on 1 January the new one.
        late = doc(1)
        assign_number(s, late, datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
        early = doc(2)
        assign_number(s, early, datetime(2026, 12, 31, 17, 10, tzinfo=UTC))
        assert (late.year, late.code_number) == (2026, "01")
        assert (early.year, early.code_number, early.own_code) == (2027, "01", "01/UBND-VP")
        assert str(early.issued_date) == "2027-01-01"


def test_signing_steps_can_use_keys_configured_on_the_server(api: Api, pki: TestPki) -> None:
    from tests.signing.images import seal_png, signature_png

    r = api.client.post(
        "/api/v1/me/signing-key",
        data={"password": PASSWORD},
        files={
            "file": ("me.p12", pki.pkcs12(pki.official, PASSWORD), "application/x-pkcs12"),
            "image": ("chu-ky.png", signature_png(), "image/png"),
        },
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 201, r.text
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": DEPARTMENT, "password": PASSWORD},
        files={
            "file": ("seal.p12", pki.pkcs12(pki.seal, PASSWORD), "application/x-pkcs12"),
            "image": ("seal.png", seal_png(), "image/png"),
        },
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    did = _outgoing(api)["id"]
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    # Nothing to sign for the clerk yet: the leader's step waits.
    r = api.client.post(f"/api/v1/documents/{did}/sign", json={}, headers=api.login("vanthu.so"))
    assert r.status_code == 403
    r = api.client.post(
        f"/api/v1/documents/{did}/sign",
        json={"appearance": "signer"},
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 201, r.text
    _do(api, "vanthu.so", "number", did)
    r = api.client.post(
        f"/api/v1/documents/{did}/sign", json={"appearance": "seal"}, headers=api.login("vanthu.so")
    )
    assert r.status_code == 201, r.text
    doc = _doc(api, "vanthu.so", did)
    assert doc["status"] == "dispatched" and doc["files"][0]["version"] == 3
    pdf = _current_main(api, "vanthu.so", did)
    assert pdf.count(b"/ByteRange") == 2
    r = api.client.post(f"/api/v1/documents/{did}/sign", json={}, headers=api.login("vanthu.so"))
    assert r.status_code == 409 and r.json()["error"] == "not_signing_step"


def test_tasks_of_a_secret_case_reach_only_users_cleared_for_it(
    sessions: sessionmaker[Session],
) -> None:
    from engine.errors import PermissionDeniedError
    from engine.runtime.instances import start_instance
    from engine.runtime.tasks import claim_task, complete_task, inbox, task_detail

    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
        data = {"registered": False, "document_id": 0}
        for secrecy in (1, 2):  # vanthu holds Mật (1), not Tối mật (2)
            start_instance(
                s, "document_incoming", agency_id=clerk.agency_id, data=data, secrecy=secrecy
            )
    with sessions.begin() as s:
        tasks, total = inbox(s, clerk)
        assert total == 1 and len(tasks) == 1
        visible_id = tasks[0].id
        hidden = s.scalar(
            select(WorkflowTask.id).where(
                WorkflowTask.state == "ready", WorkflowTask.id != visible_id
            )
        )
        assert hidden is not None
        for action in (
            lambda: task_detail(s, hidden, clerk),
            lambda: claim_task(s, hidden, clerk),
            lambda: complete_task(s, hidden, clerk, {"decision": "register"}),
        ):
            with pytest.raises(PermissionDeniedError):
                action()


def test_a_secret_document_cannot_be_assigned_to_someone_without_clearance(api: Api) -> None:
    doc = _incoming(api, secrecy=1, code_number="9", notation="M-UBND")
    _do(api, "lanhdao", "direct", doc["id"], {"opinion": "Giao văn phòng"})
    task_id = _task(api, "lanhdao", "assign", doc["id"])
    h = api.login("lanhdao")
    form = api.client.get(f"/api/v1/tasks/{task_id}", headers=h).json()["form"]
    assert "chuyenvien" not in form["properties"]["next_assignee"]["enum"]
    r = api.client.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={"data": {"next_assignee": "chuyenvien"}},
        headers=h,
    )
    assert r.status_code == 422


def test_the_clerk_may_have_the_process_apply_the_agency_signature(api: Api, pki: TestPki) -> None:
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": DEPARTMENT, "password": PASSWORD},
        files={"file": ("seal.p12", pki.pkcs12(pki.seal, PASSWORD), "application/x-pkcs12")},
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    did = _outgoing(api)["id"]
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    _do(api, "vanthu.so", "number", did, {"seal_on_server": True})
    doc = _doc(api, "vanthu.so", did)
    assert doc["status"] == "dispatched" and doc["files"][0]["version"] == 3
    kinds = [e["kind"] for e in doc["timeline"]]
    assert kinds[-3:] == ["signature", "sealed", "dispatched"]
    assert _current_main(api, "vanthu.so", did).count(b"/ByteRange") == 2


def test_a_signed_upload_with_an_unsigned_change_after_the_signature_is_refused(
    api: Api, pki: TestPki
) -> None:
    from tests.signing.pdfs import append_page

    did = _outgoing(api)["id"]
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    signed = PadesSigner(key, PadesLevel.B_B).sign(_current_main(api, "lanhdao.so", did))
    r = api.client.post(
        f"/api/v1/documents/{did}/signed",
        files={"file": ("x.pdf", append_page(signed, "Chuyen 1.000.000 dong"), "application/pdf")},
        headers=api.login("lanhdao.so"),
    )
    assert r.status_code == 422
    assert _doc(api, "lanhdao.so", did)["status"] == "signing"


def test_secret_documents_are_not_sent_electronically_and_their_process_is_hidden(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    from engine.documents.dispatch import queue_deliveries

    secret = _incoming(api, secrecy=1, code_number="3", notation="M-VP")
    with api.state.sessions.begin() as s:
        doc = s.get(Document, secret["id"])
        assert doc is not None
        instance_id = doc.instance_id
        (row,) = queue_deliveries(s, doc, [{"code": DEPARTMENT, "name": "Sở Tư pháp"}])
        assert row.state == "undeliverable" and "secret" in (row.last_error or "")
    url = f"/api/v1/instances/{instance_id}"
    assert api.client.get(url, headers=api.login("vanthu")).status_code == 200
    assert api.client.get(url, headers=api.login("chuyenvien")).status_code == 404


def test_a_b_t_signature_uploaded_at_the_sign_step_is_upgraded_to_b_lta(api: Api) -> None:
    from datetime import timedelta

    from engine.signature_upgrades import Upgrader
    from signing.report import Indication
    from signing.trust import TrustSettings
    from signing.validate import validate_pdf
    from storage.models import SignatureUpgrade

    with trusted_pki(api) as (pki, tsa):
        did = _outgoing(api)["id"]
        _do(api, "chuyenvien.so", "draft", did)
        _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
        _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
        key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
        signed = PadesSigner(key, PadesLevel.B_T, tsa_url=tsa).sign(
            _current_main(api, "lanhdao.so", did)
        )
        r = api.client.post(
            f"/api/v1/documents/{did}/signed",
            files={"file": ("ky.pdf", signed, "application/pdf")},
            headers=api.login("lanhdao.so"),
        )
        assert r.status_code == 201, r.text
        with api.state.sessions.begin() as s:
            assert r.json()["file"]["id"] in s.scalars(select(SignatureUpgrade.file_id)).all()
        state = api.state
        job = Upgrader(state.sessions, state.objects, tsa, timedelta(0), state.settings.tmp_dir)
        assert job.run_once() == 2  # the draft's upload and the signed version
    upgraded = _current_main(api, "lanhdao.so", did)
    (sig,) = validate_pdf(upgraded, TrustSettings.of([pki.root.cert])).signatures
    assert sig.indication is Indication.TOTAL_PASSED and sig.pades_level == "B-LTA"
