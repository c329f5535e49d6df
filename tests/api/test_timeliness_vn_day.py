"""Timeliness by the Vietnamese calendar day, and the clock stopped for a supplement however the
dossier ends: the view, the list filter, the statistics and the register (form 06) agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.calendar import VN_TZ
from storage.models import Dossier
from tests.api.test_dossier_supplement import _age, _ask, _receive, _to_appraisal, _view
from tests.api.test_dossier_timeliness import _all, _everywhere, register_verdict
from tests.conftest import Api


def _finished_at(api: Api, code: str, due: datetime, finished: datetime) -> None:
    """The dossier was due at `due` and done and returned at `finished`."""
    with api.state.sessions.begin() as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        d.due_at, d.finished_at, d.returned_at, d.status = due, finished, finished, 10


def _vn(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=VN_TZ)


def test_finished_on_the_due_day_in_vietnam_is_on_time_not_early(api: Api) -> None:
    code = _receive(api)["code"]
    # A due day some days back, in Vietnam time (UTC+7): 17:00 on it.
    day = datetime.now(VN_TZ) - timedelta(days=3)
    due = _vn(day, 17)
    for finished, verdict in [
        (_vn(day, 0, 30), "on_time"),  # 17:30 UTC the day before
        (_vn(day, 6, 59), "on_time"),  # 23:59 UTC the day before
        (_vn(day, 7, 0), "on_time"),
        (_vn(day, 16, 59), "on_time"),
        (_vn(day - timedelta(days=1), 23, 30), "early"),  # the same UTC day as 06:59 above
        (due + timedelta(minutes=1), "overdue"),
    ]:
        _finished_at(api, code, due.astimezone(UTC), finished.astimezone(UTC))
        assert _everywhere(api, code) == _all(verdict), finished


def test_due_early_in_the_vietnamese_morning_counts_the_vietnamese_day(api: Api) -> None:
    code = _receive(api)["code"]
    day = datetime.now(VN_TZ) - timedelta(days=3)
    due = _vn(day, 6)  # 23:00 UTC the day before
    for finished, verdict in [
        (_vn(day - timedelta(days=1), 23, 30), "early"),  # the same UTC day as the due time
        (_vn(day, 0, 10), "on_time"),
        (_vn(day, 6, 1), "overdue"),
    ]:
        _finished_at(api, code, due.astimezone(UTC), finished.astimezone(UTC))
        assert _everywhere(api, code) == _all(verdict), finished


def _closed_verdicts(api: Api, code: str) -> dict[str, object]:
    """How each place judges a withdrawn or suspended dossier (the statistics count only
    finished and open dossiers, so they must simply not count it overdue)."""
    h = api.login("lanhdao")
    overdue = {
        d["code"]
        for d in api.client.get(
            "/api/v1/dossiers", params={"overdue": "true", "limit": 200}, headers=h
        ).json()["items"]
    }
    stats = api.client.get("/api/v1/stats/timeliness", headers=h).json()
    return {
        "view": _view(api, code)["timeliness"],
        "listed_overdue": code in overdue,
        "stats_overdue": stats["finished_overdue"] + stats["open_overdue"],
        "register": register_verdict(api, h, code),
    }


def _stop(api: Api, code: str, kind: str) -> None:
    user = "tiepnhan" if kind == "withdraw" else "lanhdao"
    r = api.client.post(
        f"/api/v1/dossiers/{code}/{kind}", json={"reason": "Lý do"}, headers=api.login(user)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == (7 if kind == "withdraw" else 8)


@pytest.mark.parametrize("kind", ["withdraw", "suspend"])
def test_closed_weeks_after_due_while_waiting_for_a_supplement_is_not_overdue(
    api: Api, kind: str
) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _ask(api, code).status_code == 200  # asked in time: the clock stops
    # Three weeks pass: the due date is long gone, the applicant never came back.
    due = datetime.fromisoformat(_view(api, code)["due_at"])
    _age(api, code, due - datetime.now(UTC) + timedelta(days=21))
    assert _view(api, code)["timeliness"] == "in_time"
    _stop(api, code, kind)
    verdicts = _closed_verdicts(api, code)
    assert verdicts["view"] != "overdue" and verdicts["register"] == verdicts["view"]
    assert verdicts["listed_overdue"] is False and verdicts["stats_overdue"] == 0


@pytest.mark.parametrize("kind", ["withdraw", "suspend"])
def test_closed_while_waiting_for_a_supplement_asked_too_late_stays_overdue(
    api: Api, kind: str
) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    due = datetime.fromisoformat(_view(api, code)["due_at"])
    _age(api, code, due - datetime.now(UTC) + timedelta(days=1))
    assert _ask(api, code).status_code == 200  # asked after the due date: already late
    _stop(api, code, kind)
    verdicts = _closed_verdicts(api, code)
    assert (verdicts["view"], verdicts["register"], verdicts["listed_overdue"]) == (
        "overdue",
        "overdue",
        True,
    )


@pytest.mark.parametrize("kind", ["withdraw", "suspend"])
def test_closed_after_due_while_processing_is_overdue(api: Api, kind: str) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    due = datetime.fromisoformat(_view(api, code)["due_at"])
    _age(api, code, due - datetime.now(UTC) + timedelta(days=1))
    _stop(api, code, kind)
    assert _closed_verdicts(api, code)["view"] == "overdue"
