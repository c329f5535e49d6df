"""What `POST /api/v1/documents` refuses in an incoming document, and what the list's `q` and
the duplicate check find: arrival times with their offset, in this year's register and not in
the future; the issuer's date not after the arrival; numbers as the issuer wrote them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.calendar import VN_TZ
from engine.documents import drafting
from engine.documents.drafting import DocumentInput, Party, create_document
from engine.documents.numbering import assign_number
from engine.errors import InvalidInputError
from storage.models import Document, User
from tests.conftest import Api

PROVINCE = "000.00.00.H99"
DEPARTMENT = "000.00.11.H99"


def _paper(**over: Any) -> dict[str, Any]:
    return {
        "direction": "incoming",
        "type_name": "Công văn",
        "code_number": "12",
        "notation": "UBND-VP",
        "issued_date": (datetime.now(VN_TZ).date() - timedelta(days=1)).isoformat(),
        "issuer": {"code": PROVINCE, "name": "UBND tỉnh Lam Sơn"},
        "subject": "Về việc kiểm tra công tác văn thư",
    } | over


def _post(api: Api, **over: Any) -> Any:
    return api.client.post("/api/v1/documents", json=_paper(**over), headers=api.login("vanthu"))


def _entered(api: Api, **over: Any) -> dict[str, Any]:
    r = _post(api, **over)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _total(api: Api, **params: str) -> int:
    r = api.client.get("/api/v1/documents", params=params, headers=api.login("vanthu"))
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def _refused(api: Api, field: str, *words: str, **over: Any) -> None:
    """422 naming `field` in Vietnamese and English, and nothing stored."""
    r = _post(api, **over)
    assert r.status_code == 422, r.text
    body = r.json()
    assert {f["field"] for f in body.get("fields") or []} == {field}, body
    assert field in body["detail"] and " / " in body["detail"], body
    for w in words:
        assert w in body["detail"], body
    assert _total(api) == 0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The engine's 'now' when the clerk enters a document: 2 January 2026, 09:00 in Vietnam."""
    now = datetime(2026, 1, 2, 9, 0, tzinfo=VN_TZ)
    monkeypatch.setattr(drafting, "utcnow", lambda: now)
    return now


def test_received_at_without_time_zone_is_422_naming_it(api: Api) -> None:
    _refused(api, "received_at", received_at="2026-01-01T00:00:00")
    _refused(api, "received_at", received_at="yesterday")


def test_received_at_in_the_future_is_refused_past_a_little_clock_skew(api: Api) -> None:
    now = datetime.now(VN_TZ)
    _refused(api, "received_at", "future", received_at=(now + timedelta(hours=1)).isoformat())
    _refused(api, "received_at", "future", received_at="2099-01-01T00:00:00+07:00")
    _refused(api, "received_at", received_at="9999-12-31T23:59:59-07:00")
    # A clerk's PC clock a minute fast is not a typo.
    doc = _entered(api, received_at=(now + timedelta(minutes=1)).isoformat())
    assert doc["arrival_number"] == "01"


def test_a_document_received_in_an_earlier_year_belongs_to_that_years_register(
    api: Api, clock: datetime
) -> None:
    # Two years back is too late for any register still open.
    _refused(
        api,
        "received_at",
        "2024",
        "only arrivals of 2026 or 2025",
        received_at="2024-12-31T10:00:00+07:00",
        issued_date="2024-12-30",
    )
    # A paper letter of 31 December entered in January: last year's register, its next number.
    late = _entered(api, received_at="2025-12-31T10:00:00+07:00", issued_date="2025-12-30")
    assert (late["year"], late["arrival_number"]) == (2025, "01")
    # 23:30 on 31 December in UTC is already 1 January in Vietnam: this year's register.
    doc = _entered(api, received_at="2025-12-31T17:30:00Z", issued_date="2025-12-30")
    assert (doc["year"], doc["arrival_number"]) == (2026, "01")
    assert datetime.fromisoformat(doc["arrival_at"]) == datetime(2026, 1, 1, 0, 30, tzinfo=VN_TZ)
    r = api.client.get(
        "/api/v1/documents/registers/incoming?year=2026", headers=api.login("vanthu")
    )
    assert r.status_code == 200 and len(r.content.decode("utf-8-sig").splitlines()) == 2


def test_the_issuers_date_may_not_follow_the_arrival(api: Api, clock: datetime) -> None:
    _refused(api, "issued_date", "future", issued_date="2099-12-31")
    _refused(api, "issued_date", "future", issued_date="2026-01-03")
    _refused(
        api,
        "issued_date",
        "after the arrival date 2026-01-01",
        received_at="2026-01-01T08:00:00+07:00",
        issued_date="2026-01-02",
    )
    # The same day is fine, and so is today without a received_at.
    _entered(api, received_at="2026-01-01T08:00:00+07:00", issued_date="2026-01-01")
    _entered(api, code_number="13", issued_date="2026-01-02")
    assert _total(api) == 2


def test_the_engine_refuses_bad_arrivals_for_every_caller(
    sessions: sessionmaker[Session], clock: datetime
) -> None:
    paper = DocumentInput(
        direction="incoming",
        type_name="Công văn",
        subject="Thử",
        code_number="1",
        issued_date=date(2025, 12, 1),
        issuer=Party(PROVINCE, "UBND tỉnh"),
    )
    bad = [
        ("received_at", replace(paper, received_at=datetime(2026, 1, 1, 8))),  # naive
        ("received_at", replace(paper, received_at=datetime(2024, 12, 31, 10, tzinfo=VN_TZ))),
        ("received_at", replace(paper, received_at=clock + timedelta(minutes=3))),
        ("issued_date", replace(paper, issued_date=date(2026, 1, 3))),
    ]
    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
        for field, doc in bad:
            with pytest.raises(InvalidInputError) as refused:
                create_document(s, clerk, doc)
            assert refused.value.details == [{"field": field, "message": refused.value.message}]
        assert s.scalar(select(func.count(Document.id))) == 0


@pytest.mark.parametrize("q", ["12", "UBND-VP", "ubnd", "12/UBND-VP", "12/ubnd-vp", "kiểm tra"])
def test_q_finds_an_incoming_document_by_its_number_and_notation(api: Api, q: str) -> None:
    mine = _entered(api)
    _entered(api, code_number="7", notation="SXD-VP", subject="Về việc khác")
    r = api.client.get(
        "/api/v1/documents",
        params={"q": q, "direction": "incoming"},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()["items"]] == [mine["id"]], (q, r.json())


def test_q_finds_a_numbered_outgoing_document_by_its_own_number(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
        out = create_document(
            s,
            clerk,
            DocumentInput(
                direction="outgoing", type_name="Công văn", subject="Báo cáo", notation="UBND-VP"
            ),
        )
        assign_number(s, out)
        code = out.own_code
    assert code and code.startswith("01/")
    found = api.client.get("/api/v1/documents", params={"q": code}, headers=api.login("vanthu"))
    assert [d["code"] for d in found.json()["items"]] == [code]


def test_like_wildcards_in_q_stand_for_themselves(api: Api) -> None:
    _entered(api)
    percent = _entered(api, code_number="8", subject="Tỷ lệ 100% hồ sơ đúng hạn")
    underscore = _entered(api, code_number="9", notation="A_B", subject="Về việc khác")
    cases = (("%", [percent]), ("_", [underscore]), ("0%", [percent]), ("9/a_b", [underscore]))
    for q, expected in (*cases, ("9/a%", []), ("1_/", [])):
        r = api.client.get("/api/v1/documents", params={"q": q}, headers=api.login("vanthu"))
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["items"]] == [d["id"] for d in expected], q
    assert _total(api, q="12/") == 1


@pytest.mark.parametrize(
    ("number", "notation", "issuer", "duplicate"),
    [
        ("12", "UBND-VP", PROVINCE, True),
        ("12", "ubnd-vp", PROVINCE, True),
        ("012", "UBND-VP", PROVINCE, True),
        ("0012", "Ubnd-Vp", PROVINCE, True),
        ("120", "UBND-VP", PROVINCE, False),
        ("12", "UBND-VPX", PROVINCE, False),
        ("12", None, PROVINCE, False),
        ("12", "UBND-VP", DEPARTMENT, False),
    ],
)
def test_duplicates_are_found_whatever_the_case_and_leading_zeros(
    api: Api, number: str, notation: str | None, issuer: str, duplicate: bool
) -> None:
    first = _entered(api)
    again = _entered(
        api,
        code_number=number,
        notation=notation,
        issuer={"code": issuer, "name": "Cơ quan ban hành"},
    )
    assert again["duplicate_of"] == (first["id"] if duplicate else None)


def test_documents_without_notation_are_duplicates_by_number_alone(api: Api) -> None:
    first = _entered(api, notation=None)
    assert _entered(api, code_number="012", notation=None)["duplicate_of"] == first["id"]
    assert _entered(api, code_number="12", notation="UBND-VP")["duplicate_of"] is None


def test_the_same_number_next_year_or_in_the_secret_series_is_another_letter(api: Api) -> None:
    # Issuers number from 01 each January, and secret letters in a series of their own
    # (Decree 30/2020): neither is a duplicate of last year's or the normal 12/UBND-VP.
    last_year = date(datetime.now(VN_TZ).year - 1, 12, 20).isoformat()
    first = _entered(api, issued_date=last_year)
    assert _entered(api)["duplicate_of"] is None  # this year's 12/UBND-VP
    assert _entered(api, secrecy=1)["duplicate_of"] is None
    assert _entered(api, issued_date=last_year)["duplicate_of"] == first["id"]
