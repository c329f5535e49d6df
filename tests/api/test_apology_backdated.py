"""Form 04 for a dossier whose deadline had already passed when it was received (a paper
dossier entered late): the timer fires while its process starts, yet the apology names the
step the dossier really waits at and the officials holding that step are told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.demo import COMMUNE1_CODE, DEMO_PASSWORD
from engine.runtime.timers import fire_due_timers
from engine.users import create_user
from tests.api.test_dossier_supplement import (
    _age_until_due,
    _do,
    _kinds,
    _receive,
    _text,
    _view,
)
from tests.conftest import Api


def _second_desk_official(api: Api) -> None:
    # Another official of the receiving desk: the first step's lane, but not the receiver.
    with api.state.sessions.begin() as s:
        create_user(s, "tiepnhan2", "Vũ Thị Bàn Giao", COMMUNE1_CODE, ["reception"], DEMO_PASSWORD)


def _overdue_notes(api: Api, user: str, code: str) -> list[dict]:
    r = api.client.get("/api/v1/notifications", headers=api.login(user))
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["kind"] == "overdue" and n["dossier_code"] == code]


def _apology_text(api: Api, code: str) -> str:
    r = api.client.get(f"/api/v1/dossiers/{code}/slips/apology", headers=api.login("tiepnhan"))
    assert r.status_code == 200, r.text
    return _text(r.content)


def test_backdated_dossier_apology_names_the_step_it_waits_at(api: Api) -> None:
    _second_desk_official(api)
    received = (datetime.now(UTC) - timedelta(days=120)).isoformat()
    code = _receive(api, received_at=received)["code"]
    fire_due_timers(api.state.sessions)  # the worker's round, should the timer still wait
    view = _view(api, code)
    (apology,) = _kinds(view, "apology")
    assert view["timeliness"] == "overdue"
    step = "Kiểm tra và chuyển hồ sơ"  # the first step, at the receiving desk
    assert apology["note"].endswith(f"đang chờ xử lý ở bước: {step}")
    text = _apology_text(api, code)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    assert f"đang chờ xử lý ở bước: {step}" in text and "bước: trả kết quả" not in text
    # The step's lane (reception at the receiving agency): every official of it is told, once.
    assert len(_overdue_notes(api, "tiepnhan", code)) == 1
    assert len(_overdue_notes(api, "tiepnhan2", code)) == 1
    assert _overdue_notes(api, "lanhdao", code) == []  # holds no step of it
    assert fire_due_timers(api.state.sessions) == 0  # once only


def test_backdated_to_the_first_years_of_the_calendar(api: Api) -> None:
    code = _receive(api, received_at="1970-06-01T08:00:00+07:00")["code"]
    fire_due_timers(api.state.sessions)
    (apology,) = _kinds(_view(api, code), "apology")
    assert apology["note"].endswith("đang chờ xử lý ở bước: Kiểm tra và chuyển hồ sơ")
    assert len(_overdue_notes(api, "tiepnhan", code)) == 1


def test_deadline_passing_later_tells_whoever_holds_the_step_then(api: Api) -> None:
    _second_desk_official(api)
    code = _receive(api)["code"]
    assert _do(api, "tiepnhan", "receive", code) == 200  # now at the leader's step
    _age_until_due(api, code)
    assert fire_due_timers(api.state.sessions) == 1
    (apology,) = _kinds(_view(api, code), "apology")
    assert apology["note"].endswith("đang chờ xử lý ở bước: Phân công thụ lý")
    assert "đang chờ xử lý ở bước: Phân công thụ lý" in _apology_text(api, code)
    assert len(_overdue_notes(api, "lanhdao", code)) == 1
    assert len(_overdue_notes(api, "tiepnhan", code)) == 1  # the receiver answers to the applicant
    assert _overdue_notes(api, "tiepnhan2", code) == []
