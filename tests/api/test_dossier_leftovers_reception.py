"""Reception leftovers (over HTTP, demo users): a backdated dossier's answer already shows its
apology (form 04), and the competent agency the desk leaves out is the one the agency tree
gives for the procedure's kind and level, or a clear 422."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from engine.agencies import create_agency
from engine.users import create_user
from tests.api.test_dossier_supplement import _kinds
from tests.api.test_dossiers_api import APPLICANT, _refused, _total
from tests.conftest import Api

BODY = {"applicant": APPLICANT, "channel": "counter", "complete": True}
COMMUNE_POLICE = "000.01.21.H99"  # a police post under commune 1 (Hoà Bình)


def _post(api: Api, user: str, procedure: str, **over: Any) -> Any:
    body = BODY | {"procedure_code": procedure} | over
    return api.client.post("/api/v1/dossiers", json=body, headers=api.login(user))


def _get(api: Api, code: str, user: str = "tiepnhan") -> dict[str, Any]:
    r = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login(user))
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


def test_backdated_reception_answers_with_the_apology_a_read_shows(api: Api) -> None:
    received = (datetime.now(UTC) - timedelta(days=120)).isoformat()
    r = _post(api, "tiepnhan", "1.004873", received_at=received)
    assert r.status_code == 201, r.text
    answer = r.json()
    (apology,) = _kinds(answer, "apology")
    assert answer["timeliness"] == "overdue"
    assert apology["note"].endswith("đang chờ xử lý ở bước: Kiểm tra và chuyển hồ sơ")
    assert datetime.fromisoformat(apology["details"]["new_due_at"]) > datetime.now(UTC)
    assert answer == _get(api, answer["code"])
    notes = api.client.get("/api/v1/notifications", headers=api.login("tiepnhan")).json()
    assert [n["dossier_code"] for n in notes["items"] if n["kind"] == "overdue"] == [answer["code"]]


@contextmanager
def _notifications_refused(api: Api) -> Iterator[None]:
    """A database that refuses every notification: form 04 fails while it is made."""
    sqlite = api.state.engine.dialect.name == "sqlite"
    create = (
        [
            "CREATE TRIGGER refuse_notes BEFORE INSERT ON notifications "
            "BEGIN SELECT RAISE(ABORT, 'notifications refused'); END"
        ]
        if sqlite
        else [
            "CREATE FUNCTION refuse_notes() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'notifications refused'; END $$",
            "CREATE TRIGGER refuse_notes BEFORE INSERT ON notifications "
            "FOR EACH ROW EXECUTE FUNCTION refuse_notes()",
        ]
    )
    drop = (
        ["DROP TRIGGER refuse_notes"]
        if sqlite
        else ["DROP TRIGGER refuse_notes ON notifications", "DROP FUNCTION refuse_notes()"]
    )
    with api.state.engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield
    finally:  # the PostgreSQL test database outlives this test
        with api.state.engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))


def test_a_failing_apology_loses_nothing_of_the_reception(api: Api) -> None:
    received = (datetime.now(UTC) - timedelta(days=120)).isoformat()
    with _notifications_refused(api):
        r = _post(api, "tiepnhan", "1.004873", received_at=received)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert _kinds(answer, "apology") == [] and answer["timeliness"] == "overdue"
    assert [e["kind"] for e in answer["timeline"]] == ["registered", "accepted"]
    assert answer == _get(api, answer["code"])


def _commune_police(api: Api) -> None:
    with api.state.sessions.begin() as s:
        create_agency(s, COMMUNE_POLICE, "Công an xã Hoà Bình", "police", "000.01.20.H99")


def test_desk_leaving_the_competent_agency_out_gets_the_nearest_of_kind_and_level(
    api: Api,
) -> None:
    _commune_police(api)
    # The commune decides its own commune-level procedures.
    assert _post(api, "tiepnhan", "1.001193").json()["competent_agency"] == "000.01.20.H99"
    # Permanent residence (1.004222) is the commune-level police's: the commune's own post.
    r = _post(api, "tiepnhan", "1.004222")
    assert r.status_code == 201 and r.json()["competent_agency"] == COMMUNE_POLICE, r.text
    # A judicial record extract (3.000333) is the provincial police's, not the commune post's,
    # although the post is nearer.
    r = _post(api, "tiepnhan", "3.000333")
    assert r.status_code == 201 and r.json()["competent_agency"] == "000.00.40.H99", r.text


def test_two_equally_near_departments_or_none_is_a_422_naming_the_choice(api: Api) -> None:
    # Business registration (2.001610) at the provincial centre: the province has two
    # departments; picking the first would send it to the Department of Justice.
    r = _post(api, "tiepnhan.tt", "2.001610")
    _refused(
        r,
        "competent_agency",
        "competent_ambiguous",
        "000.00.10.H99 (Sở Tư pháp tỉnh Lam Sơn)",
        "000.00.11.H99 (Sở Xây dựng tỉnh Lam Sơn)",
        "hãy chỉ rõ competent_agency",
        "give competent_agency",
    )
    # The centre receiving a commune's procedure must say which commune decides it.
    _refused(_post(api, "tiepnhan.tt", "1.001193"), "competent_agency", "competent_ambiguous")
    # No commune-level police near commune 2: the provincial police do not register residence.
    with api.state.sessions.begin() as s:
        create_user(s, "tiepnhan.xa2", "Cán bộ xã 2", "000.02.20.H99", ["reception"], "demo")
    _refused(
        _post(api, "tiepnhan.xa2", "1.004222"),
        "competent_agency",
        "competent_not_found",
        "Không tìm thấy Công an cấp xã nào trong UBND tỉnh Lam Sơn (demo)",
        "no police at commune level",
    )
    assert _total(api, "admin") == 0  # nothing half-written
    ok = _post(api, "tiepnhan.tt", "2.001610", competent_agency="000.00.10.H99")
    assert ok.status_code == 201, ok.text


def test_no_department_in_the_province_is_not_found_never_another_provinces(api: Api) -> None:
    """Two provinces under one ministry: a desk of the one without a department is told none
    is in its province, not handed (or refused over) the other province's department."""
    with api.state.sessions.begin() as s:
        create_agency(s, "000.00.00.G01", "Bộ Nội vụ (thử)", "ministry")
        for p in ("H97", "H96"):
            create_agency(s, f"000.00.00.{p}", f"UBND tỉnh {p}", "province_pc", "000.00.00.G01")
            create_agency(s, f"000.01.20.{p}", f"UBND xã {p}", "commune_pc", f"000.00.00.{p}")
        create_agency(s, "000.00.10.H96", "Sở Tài chính H96", "department", "000.00.00.H96")
        create_user(s, "tiepnhan.h97", "Mai Thị Nhận", "000.01.20.H97", ["reception"], "demo")
    r = _post(api, "tiepnhan.h97", "2.001610")
    _refused(r, "competent_agency", "competent_not_found", "UBND tỉnh H97", "000.00.00.H97")
