"""A name that looks like a formula comes out of the register exports as plain text."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from engine.calendar import VN_TZ
from tests.conftest import Api

ISSUER = "Tác giả (cơ quan ban hành)"  # the incoming register's column
APPLICANT = "Tên cá nhân, tổ chức"  # the dossier register's (form 06)

PROVINCE = "000.00.00.H99"
HYPERLINK = '=HYPERLINK("http://evil.example/","Bấm vào đây")'


def _sheet(content: bytes) -> Worksheet:
    assert content[:2] == b"PK"
    ws = load_workbook(io.BytesIO(content)).active
    assert isinstance(ws, Worksheet)
    return ws


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def _column(rows: list[list[str]], name: str) -> list[str]:
    at = rows[0].index(name)
    return [row[at] for row in rows[1:]]


def _cells(ws: Worksheet, name: str) -> list[tuple[object, str]]:
    """(value, data type) of the column headed `name`, below the header."""
    rows = list(ws.iter_rows())
    at = [c.value for c in rows[0]].index(name)
    return [(row[at].value, row[at].data_type) for row in rows[1:]]


def test_an_issuer_named_like_a_formula_is_text_in_the_incoming_register(api: Api) -> None:
    body = {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "125",
        "notation": "UBND-VP",
        "issued_date": "2026-11-20",
        "issuer": {"code": PROVINCE, "name": HYPERLINK},
        "subject": "Về việc triển khai chuyển đổi số cấp xã",
        "urgency": 1,
    }
    h = api.login("vanthu")
    r = api.client.post("/api/v1/documents", json=body, headers=h)
    assert r.status_code == 201, r.text
    url = f"/api/v1/documents/registers/incoming?year={datetime.now(VN_TZ).year}"

    ws = _sheet(api.client.get(url + "&format=xlsx", headers=h).content)
    assert _cells(ws, ISSUER) == [(HYPERLINK, "s")]

    r = api.client.get(url + "&format=csv", headers=h)
    assert r.status_code == 200
    assert _column(_csv(r.content), ISSUER) == ["'" + HYPERLINK]


def test_an_applicant_named_like_a_formula_is_text_in_the_dossier_register(api: Api) -> None:
    applicant = {"full_name": "=1+1", "id_number": "001190012345", "phone": "0912345678"}
    body = {
        "procedure_code": "1.001193",
        "applicant": applicant,
        "channel": "counter",
        "complete": True,
    }
    h = api.login("tiepnhan")
    r = api.client.post("/api/v1/dossiers", json=body, headers=h)
    assert r.status_code == 201, r.text
    now = datetime.now().astimezone()
    period = {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }

    r = api.client.get("/api/v1/dossier-register", params=period | {"format": "xlsx"}, headers=h)
    assert _cells(_sheet(r.content), APPLICANT) == [("=1+1", "s")]

    r = api.client.get("/api/v1/dossier-register", params=period, headers=h)
    assert r.status_code == 200
    assert _column(_csv(r.content), APPLICANT) == ["'=1+1"]
