"""Timeliness while a dossier waits for the applicant's supplement: the waiting time does not
count, and the detail, the list filter, the statistics and the register (form 06) agree."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from engine.dossiers.timeliness import VERDICT_NAMES
from engine.runtime.timers import fire_due_timers
from storage.models import Dossier
from tests.api.test_dossier_supplement import (
    _age_until_due,
    _ask,
    _do,
    _kinds,
    _receive,
    _requested_ago,
    _supplement,
    _to_appraisal,
    _view,
    _working,
)
from tests.conftest import Api

# The register (form 06) prints each verdict by its Vietnamese name.
VERDICT_CODES = {name: code for code, name in VERDICT_NAMES.items()}


def register_verdict(api: Api, headers: dict[str, str], code: str) -> str:
    """The dossier's verdict as the register (form 06) of the last 90 days prints it."""
    now = datetime.now(UTC)
    register = api.client.get(
        "/api/v1/dossier-register",
        params={
            "from": (now - timedelta(days=90)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        },
        headers=headers,
    )
    rows = list(csv.reader(io.StringIO(register.content.decode("utf-8-sig"))))
    return VERDICT_CODES[next(r[-1] for r in rows[1:] if r[1] == code)]


def _everywhere(api: Api, code: str) -> dict[str, str]:
    """How each place that shows timeliness judges the (only) dossier right now."""
    h = api.login("lanhdao")
    listed = {
        flag: {
            d["code"]
            for d in api.client.get(
                "/api/v1/dossiers", params={"overdue": flag, "limit": 200}, headers=h
            ).json()["items"]
        }
        for flag in ("true", "false")
    }
    assert (code in listed["true"]) != (code in listed["false"])
    stats = api.client.get("/api/v1/stats/timeliness", headers=h).json()
    assert stats["total"] == 1
    counted = {
        "in_time": stats["open_in_time"],
        "early": stats["early"],
        "on_time": stats["on_time"],
        "overdue": stats["open_overdue"] + stats["finished_overdue"],
    }
    return {
        "view": _view(api, code)["timeliness"],
        "list": "overdue" if code in listed["true"] else "not_overdue",
        "stats": next(verdict for verdict, n in counted.items() if n),
        "register": register_verdict(api, h, code),
    }


def _all(verdict: str) -> dict[str, str]:
    """What every place shows when they agree on `verdict` (the list only filters overdue)."""
    listed = "overdue" if verdict == "overdue" else "not_overdue"
    return {"view": verdict, "list": listed, "stats": verdict, "register": verdict}


IN_TIME, OVERDUE = _all("in_time"), _all("overdue")


def test_due_date_passing_while_waiting_is_not_overdue_and_moves_by_the_time_waited(
    api: Api,
) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _ask(api, code).status_code == 200
    assert _everywhere(api, code) == IN_TIME

    # The due date passes while the applicant gathers the documents: the clock stands still.
    _age_until_due(api, code)
    waiting = _view(api, code)
    old_due = waiting["due_at"]
    assert waiting["status"] == 5 and datetime.fromisoformat(old_due) < datetime.now(UTC)
    assert _everywhere(api, code) == IN_TIME
    assert fire_due_timers(api.state.sessions) == 1
    assert _kinds(_view(api, code), "apology") == []
    _requested_ago(api, code, timedelta(days=14))  # the applicant took two weeks
    assert _everywhere(api, code) == IN_TIME

    # The supplement arrives: the due date moves by exactly the working time waited.
    resumed = _supplement(api, code)
    requested_at = _kinds(resumed, "supplement_requested")[-1]["at"]
    supplemented_at = _kinds(resumed, "supplemented")[-1]["at"]
    waited = _working(api, requested_at, supplemented_at)
    assert waited >= timedelta(hours=8)
    assert abs((_working(api, old_due, resumed["due_at"]) - waited).total_seconds()) <= 1
    assert resumed["status"] == 4 and datetime.fromisoformat(resumed["due_at"]) > datetime.now(UTC)
    assert _everywhere(api, code) == IN_TIME

    # The new due date passes while it is processed: now it is overdue, everywhere.
    _age_until_due(api, code)
    assert _view(api, code)["status"] == 4
    assert _everywhere(api, code) == OVERDUE


def test_dossier_already_overdue_when_the_clock_stopped_stays_overdue(api: Api) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    _age_until_due(api, code)
    assert _everywhere(api, code) == OVERDUE
    asked = _ask(api, code)
    assert asked.status_code == 200 and asked.json()["status"] == 5
    assert _everywhere(api, code) == OVERDUE
    assert _supplement(api, code)["status"] == 4
    assert _everywhere(api, code) == OVERDUE


def test_second_request_while_waiting_counts_overdue_everywhere(api: Api) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _ask(api, code).status_code == 200
    _supplement(api, code)
    assert _everywhere(api, code) == IN_TIME
    assert _ask(api, code).status_code == 200  # a second request: the scorecard rule
    assert _everywhere(api, code) == OVERDUE
    assert _supplement(api, code)["supplement_requests"] == 2
    assert _everywhere(api, code) == OVERDUE


def test_finished_dossier_is_early_on_time_or_overdue_by_its_finish(api: Api) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)
    assert _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"}) == 200
    assert _do(api, "lanhdao", "approve", code, {"decision": "approve"}) == 200
    assert _do(api, "vanthu", "issue_result", code) == 200
    assert _do(api, "tiepnhan", "return_result", code) == 200
    assert _view(api, code)["status"] == 10
    finish = (datetime.now(UTC) - timedelta(days=1)).replace(hour=3, minute=0)
    for due_after_finish, verdict in [
        (timedelta(days=1), "early"),  # done on a day before the due date
        (timedelta(hours=6), "on_time"),  # done on the due date, before its hour
        (timedelta(minutes=-1), "overdue"),
    ]:
        with api.state.sessions.begin() as s:
            d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
            d.finished_at = d.returned_at = finish
            d.due_at = finish + due_after_finish
        assert _everywhere(api, code) == _all(verdict), verdict


def _finish(api: Api, code: str, after_due: timedelta) -> None:
    """The dossier was done and returned `after_due` after its due date (negative: before)."""
    with api.state.sessions.begin() as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        assert d.due_at is not None
        d.finished_at = d.returned_at = d.due_at + after_due
        d.status = 10


def _stats(api: Api, **period: str) -> dict:
    r = api.client.get("/api/v1/stats/timeliness", params=period, headers=api.login("lanhdao"))
    assert r.status_code == 200, r.text
    return r.json()


def test_timeliness_rates_for_a_known_set_of_dossiers_and_periods(api: Api) -> None:
    early, on_time, overdue = timedelta(days=-2), timedelta(0), timedelta(days=1)
    january = {"2026-01-05T08:00:00+07:00": early, "2026-01-06T08:00:00+07:00": on_time}
    january |= {"2026-01-07T08:00:00+07:00": on_time, "2026-01-08T08:00:00+07:00": overdue}
    # The first instant of February belongs to February: `to` is exclusive, `from` inclusive.
    february = {"2026-02-01T00:00:00+07:00": early, "2026-02-03T08:00:00+07:00": overdue}
    for received, after_due in (january | february).items():
        _finish(api, _receive(api, received_at=received)["code"], after_due)
    _receive(api, received_at="2026-01-09T08:00:00+07:00")  # still open, long overdue

    everything = _stats(api)
    assert {k: everything[k] for k in ("total", "finished", "open", "open_overdue")} == {
        "total": 7,
        "finished": 6,
        "open": 1,
        "open_overdue": 1,
    }
    assert (everything["early"], everything["on_time"], everything["finished_overdue"]) == (2, 2, 2)
    rates = ("on_time_rate", "early_rate", "overdue_rate")
    assert [everything[k] for k in rates] == [66.67, 33.33, 33.33]

    jan = _stats(api, **{"from": "2026-01-01T00:00:00+07:00", "to": "2026-02-01T00:00:00+07:00"})
    assert (jan["total"], jan["finished"], jan["early"], jan["on_time"]) == (5, 4, 1, 2)
    assert [jan[k] for k in rates] == [75.0, 25.0, 25.0]

    feb = _stats(api, **{"from": "2026-02-01T00:00:00+07:00", "to": "2026-03-01T00:00:00+07:00"})
    assert (feb["total"], feb["finished"], feb["open"]) == (2, 2, 0)
    assert [feb[k] for k in rates] == [50.0, 50.0, 50.0]

    nothing = _stats(
        api, **{"from": "2025-01-01T00:00:00+07:00", "to": "2026-01-01T00:00:00+07:00"}
    )
    assert (nothing["total"], nothing["finished"]) == (0, 0)
    assert [nothing[k] for k in rates] == [None, None, None]
