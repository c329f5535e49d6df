"""Slips, the deadline timer's apology, withdrawal, suspension, register and timeliness."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from openpyxl import load_workbook

from engine.runtime.timers import fire_due_timers
from tests.conftest import Api

APPLICANT = {"full_name": "Lê Thị Ngọc Ánh", "id_number": "001190012345", "phone": "0912345678"}


def _receive(api: Api, **over: object) -> dict:
    body = {
        "procedure_code": "1.004873",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
    } | over
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan"))
    assert r.status_code == 201, r.text
    return r.json()


def _lines(pdf: bytes) -> list[str]:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return [line.strip() for line in out.stdout.decode("utf-8").splitlines()]


def _text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(out.stdout.decode("utf-8").split())


def test_receipt_slip_is_a_pdf_with_correct_vietnamese_text(api: Api) -> None:
    d = _receive(api)
    r = api.client.get(f"/api/v1/dossiers/{d['code']}/slips/receipt", headers=api.login("tiepnhan"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in _lines(r.content)  # the motto on one line
    text = _text(r.content)
    for expected in (
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        "Mẫu số 01",
        d["code"],
        "Lê Thị Ngọc Ánh",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    ):
        assert expected in text, expected


def test_supplement_slip_lists_each_missing_item_once_and_refusal_gives_the_reason(
    api: Api,
) -> None:
    h = api.login("tiepnhan")
    d = _receive(
        api, complete=False, missing_documents=["Tờ khai cấp giấy xác nhận", "Bản sao CCCD"]
    )
    text = _text(
        api.client.get(f"/api/v1/dossiers/{d['code']}/slips/supplement", headers=h).content
    )
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in text
    assert text.count("Tờ khai cấp giấy xác nhận") == 1 and "Bản sao CCCD" in text
    assert (
        api.client.get(f"/api/v1/dossiers/{d['code']}/slips/receipt", headers=h).status_code == 409
    )
    refused = _receive(api, complete=False, refusal_reason="Người yêu cầu không cư trú tại xã")
    text = _text(
        api.client.get(f"/api/v1/dossiers/{refused['code']}/slips/refusal", headers=h).content
    )
    assert "PHIẾU TỪ CHỐI" in text and "Người yêu cầu không cư trú tại xã" in text
    assert (
        api.client.get(f"/api/v1/dossiers/{d['code']}/slips/nonsense", headers=h).status_code == 422
    )


def test_overdue_dossier_gets_apology_slip_from_the_timer_without_anyone_acting(api: Api) -> None:
    received = (datetime.now().astimezone() - timedelta(days=30)).isoformat()
    d = _receive(api, received_at=received)
    assert datetime.fromisoformat(d["due_at"]) < datetime.now().astimezone()
    fire_due_timers(
        api.state.sessions
    )  # the worker's round (a deadline already past fires at once)
    h = api.login("tiepnhan")
    got = api.client.get(f"/api/v1/dossiers/{d['code']}", headers=h).json()
    apology = [e for e in got["timeline"] if e["kind"] == "apology"]
    assert len(apology) == 1 and got["timeliness"] == "overdue"
    assert datetime.fromisoformat(apology[0]["details"]["new_due_at"]) > datetime.now().astimezone()
    text = _text(api.client.get(f"/api/v1/dossiers/{d['code']}/slips/apology", headers=h).content)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text and "Lý do chậm trả kết quả" in text
    notes = api.client.get("/api/v1/notifications", headers=h).json()
    assert any(n["dossier_code"] == d["code"] and n["kind"] == "overdue" for n in notes["items"])
    assert fire_due_timers(api.state.sessions) == 0  # once only


def test_control_slip_records_every_handover(api: Api) -> None:
    d = _receive(api)
    h = api.login("tiepnhan")
    tid = next(
        t["id"]
        for t in api.client.get("/api/v1/tasks", headers=h).json()["items"]
        if t["business_key"] == d["code"]
    )
    assert (
        api.client.post(f"/api/v1/tasks/{tid}/complete", json={"data": {}}, headers=h).status_code
        == 200
    )
    text = _text(api.client.get(f"/api/v1/dossiers/{d['code']}/slips/control", headers=h).content)
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in text
    assert "Kiểm tra và chuyển hồ sơ" in text and "Nguyễn Thị Tiếp Nhận" in text
    # The hand-over's times, in Vietnam time, and the days the step was allowed and used.
    view = api.client.get(f"/api/v1/dossiers/{d['code']}", headers=h).json()
    (handover,) = [e for e in view["timeline"] if e["kind"] == "handover"]
    details = handover["details"]
    vn = timezone(timedelta(hours=7))
    started = datetime.fromisoformat(details["started_at"]).astimezone(vn)
    finished = datetime.fromisoformat(handover["at"]).astimezone(vn)
    assert started.strftime("%d/%m/%Y %H:%M") in text
    assert finished.strftime("%d/%m/%Y %H:%M") in text
    assert details["allowed_days"] is not None
    assert f"{Decimal(str(details['allowed_days'])):g} ngày" in text
    assert f"{Decimal(details['used_days']):g} ngày" in text


def test_withdrawal_and_suspension_close_the_dossier_and_its_tasks(api: Api) -> None:
    a, b = _receive(api), _receive(api)
    r = api.client.post(
        f"/api/v1/dossiers/{a['code']}/withdraw",
        json={"reason": "Công dân xin rút"},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 200 and r.json()["status"] == 7
    r = api.client.post(
        f"/api/v1/dossiers/{b['code']}/suspend",
        json={"reason": "Chờ xác minh"},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 403
    r = api.client.post(
        f"/api/v1/dossiers/{b['code']}/suspend",
        json={"reason": "Chờ xác minh"},
        headers=api.login("lanhdao"),
    )
    assert r.status_code == 200 and r.json()["status_name"] == "Dừng xử lý"
    tasks = api.client.get("/api/v1/tasks", headers=api.login("tiepnhan")).json()["items"]
    assert {t["business_key"] for t in tasks}.isdisjoint({a["code"], b["code"]})
    again = api.client.post(
        f"/api/v1/dossiers/{a['code']}/withdraw",
        json={"reason": "x"},
        headers=api.login("tiepnhan"),
    )
    assert again.status_code == 409


def test_register_exports_csv_and_xlsx_for_a_period(api: Api) -> None:
    codes = [_receive(api)["code"] for _ in range(2)]
    h = api.login("tiepnhan")
    start = (datetime.now().astimezone() - timedelta(days=1)).isoformat()
    end = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
    r = api.client.get("/api/v1/dossier-register", params={"from": start, "to": end}, headers=h)
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][1] == "Mã hồ sơ" and [row[1] for row in rows[1:]] == codes
    # Printed in Vietnamese, as the form is: the channel and the progress, not their codes.
    channel = rows[0].index("Kênh tiếp nhận")
    assert {(row[channel], row[-1]) for row in rows[1:]} == {("Trực tiếp", "Đang trong hạn")}
    r = api.client.get(
        "/api/v1/dossier-register", params={"from": start, "to": end, "format": "xlsx"}, headers=h
    )
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None and [c.value for c in sheet["B"]][1:] == codes
    bad = api.client.get("/api/v1/dossier-register", params={"from": end, "to": start}, headers=h)
    assert bad.status_code == 422


def test_timeliness_stats_count_early_on_time_and_overdue(api: Api) -> None:
    _receive(api)  # open, in time
    _receive(
        api, received_at=(datetime.now().astimezone() - timedelta(days=30)).isoformat()
    )  # open, overdue
    r = api.client.get("/api/v1/stats/timeliness", headers=api.login("lanhdao")).json()
    assert r["open"] == 2 and r["open_in_time"] == 1 and r["open_overdue"] == 1
    assert r["finished"] == 0
    assert r["on_time_rate"] is None and r["early_rate"] is None and r["overdue_rate"] is None
    assert (
        api.client.get(
            "/api/v1/stats/timeliness?agency=000.00.10.H99", headers=api.login("lanhdao")
        ).status_code
        == 403
    )


def test_slips_carry_the_agency_signature_once_it_has_a_seal_key(api: Api) -> None:
    from tests.pki import PASSWORD, TestPki

    pki = TestPki.generate("rsa")
    d = _receive(api)
    url = f"/api/v1/dossiers/{d['code']}/slips/receipt"
    unsigned = api.client.get(url, headers=api.login("tiepnhan")).content
    assert b"/ByteRange" not in unsigned
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": "000.01.20.H99", "password": PASSWORD},
        files={"file": ("seal.p12", pki.pkcs12(pki.seal, PASSWORD), "application/x-pkcs12")},
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    signed = api.client.get(url, headers=api.login("tiepnhan")).content
    assert signed.count(b"/ByteRange") == 1
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in _text(signed)
    r = api.client.post(
        "/api/v1/signatures/verify",
        files={"file": ("slip.pdf", signed, "application/pdf")},
        headers=api.login("tiepnhan"),
    )
    assert r.status_code == 200, r.text
    (sig,) = r.json()["signatures"]
    assert sig["intact"] is True and sig["coverage"] == "ENTIRE_FILE"
