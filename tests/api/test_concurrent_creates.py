"""Two requests creating the same user, agency, calendar override or procedure at once: one
wins, the other gets the same 409 the duplicate check gives, never a 500."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import demo
from engine.agencies import create_agency
from engine.catalogue import create_procedure
from engine.users import create_user
from engine.workdays import add_override
from tests.conftest import Api

HOLD_SECONDS = 1.0  # how long the other writer keeps its row uncommitted


def _racing(
    sessions: sessionmaker[Session],
    write: Callable[[Session], object],
    request: Callable[[], httpx.Response],
) -> httpx.Response:
    """`request` while another transaction has inserted the same row and not committed yet.

    On PostgreSQL the request's duplicate check cannot see that row; its insert waits for
    the other transaction and then hits the unique constraint. (SQLite runs one writer at a
    time, so its check sees the row.)
    """
    inserted, failed = threading.Event(), []

    def other_writer() -> None:
        try:
            with sessions.begin() as s:
                write(s)
                s.flush()
                inserted.set()
                time.sleep(HOLD_SECONDS)
        except Exception as e:  # noqa: BLE001 - reported by the test below
            failed.append(e)
            inserted.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert inserted.wait(30)
    try:
        return request()
    finally:
        thread.join()
        assert not failed, failed


def _procedure_body(api: Api, code: str) -> dict[str, Any]:
    h = api.login("thietke")
    first = api.client.get("/api/v1/procedures?limit=1", headers=h).json()["items"][0]
    body: dict[str, Any] = {**first, "code": code}
    return body


@pytest.mark.parametrize("what", ["user", "agency", "override", "procedure"])
def test_concurrent_identical_create_is_409_not_500(
    api: Api, sessions: sessionmaker[Session], what: str
) -> None:
    admin = api.login("admin")
    if what == "user":

        def write(s: Session) -> object:
            return create_user(
                s, "trung.ten", "A", demo.COMMUNE1_CODE, ["specialist"], "p-2026-xyz"
            )

        def request() -> httpx.Response:
            body = {"username": "trung.ten", "full_name": "B", "agency_code": demo.COMMUNE1_CODE,
                    "roles": ["specialist"], "password": "mat-khau-2026"}  # fmt: skip
            return api.client.post("/api/v1/users", json=body, headers=admin)

        error = "conflict"
    elif what == "agency":

        def write(s: Session) -> object:
            return create_agency(s, "000.03.20.H99", "Xã A", "commune_pc", demo.PROVINCE_CODE)

        def request() -> httpx.Response:
            body = {"code": "000.03.20.H99", "name": "Xã B", "kind": "commune_pc",
                    "parent_code": demo.PROVINCE_CODE}  # fmt: skip
            return api.client.post("/api/v1/agencies", json=body, headers=admin)

        error = "duplicate_agency"
    elif what == "override":

        def write(s: Session) -> object:
            return add_override(s, dt.date(2031, 3, 12), "holiday", "A", actor_id=None)

        def request() -> httpx.Response:
            body = {"date": "2031-03-12", "kind": "holiday", "name": "B"}
            return api.client.post("/api/v1/calendar/overrides", json=body, headers=admin)

        error = "duplicate_override"
    else:
        body = _procedure_body(api, "9.000001")
        designer = api.login("thietke")

        def write(s: Session) -> object:
            return create_procedure(s, body, actor_id=1)

        def request() -> httpx.Response:
            return api.client.post("/api/v1/procedures", json=body, headers=designer)

        error = "duplicate_procedure"
    r = _racing(sessions, write, request)
    assert r.status_code == 409, r.text
    assert r.json()["error"] == error and " / " in r.json()["detail"]
