"""Reception input at its edges, over HTTP and the CLI on each database: received_at outside
the working-day calendar's years, list offsets past 64 bits, `complete` contradicted by a
refusal reason, and the wording of the conflict when a closed dossier is withdrawn or
suspended."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.api.test_cli_dossiers import _receive_args
from tests.cli import Cli, fails
from tests.conftest import Api

APPLICANT = {"full_name": "Lê Văn Biên", "id_number": "001190012345", "phone": "0912345678"}
INT64_MAX = 2**63 - 1


def _post(api: Api, **over: Any) -> Any:
    body = {
        "procedure_code": "1.004873",
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
    } | over
    return api.client.post("/api/v1/dossiers", json=body, headers=api.login("tiepnhan"))


def _total(api: Api) -> int:
    r = api.client.get("/api/v1/dossiers", headers=api.login("tiepnhan"))
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def _refused(r: Any, fields: list[str], *words: str) -> None:
    """A 422 naming exactly `fields`, its detail in Vietnamese / English with `words`."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input", body
    assert [f["field"] for f in body["fields"]] == fields, body
    assert " / " in body["detail"] and all(w in body["detail"] for w in words), body["detail"]


@pytest.mark.parametrize(
    "received_at",
    [
        "1899-01-01T08:00:00+07:00",
        "1967-12-31T23:59:59+07:00",  # 16:59 UTC: still 1967 in Vietnam
        "0001-01-01T00:00:00+00:00",
    ],
)
def test_received_at_before_the_calendar_years_is_a_422_and_stores_nothing(
    api: Api, received_at: str
) -> None:
    r = _post(api, received_at=received_at)
    _refused(r, ["received_at"], "received_at", "1968", "Thời điểm tiếp nhận")
    assert _total(api) == 0


def test_received_at_in_the_future_or_past_the_calendar_years_is_a_422(api: Api) -> None:
    tomorrow = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
    for received_at in (tomorrow, "2151-01-01T08:00:00+07:00", "9999-12-31T23:59:59+00:00"):
        r = _post(api, received_at=received_at)
        _refused(r, ["received_at"], "received_at", "in the future")
    assert _total(api) == 0


def test_received_at_on_the_first_day_of_the_calendar_is_accepted(api: Api) -> None:
    r = _post(api, received_at="1968-01-01T00:00:00+07:00")  # 1967-12-31 17:00 UTC
    assert r.status_code == 201, r.text
    assert r.json()["due_at"].startswith("1968-")


def test_cli_receive_before_the_calendar_years_exits_1_with_the_sentence(
    api: Api, cli: Cli
) -> None:
    result = cli(*_receive_args(), "--received-at", "1899-01-01T08:00:00+07:00")
    fails(result, "received_at", "1968", "Thời điểm tiếp nhận")
    assert "unexpected" not in result.stderr
    assert _total(api) == 0


def test_cli_list_offset_and_limit_have_the_api_bounds(api: Api, cli: Cli) -> None:
    h = api.login("tiepnhan")
    code = _post(api).json()["code"]
    for option, value in (("--offset", "99999999999999999999"), ("--offset", str(INT64_MAX + 1))):
        result = cli("dossier", "list", "--as", "tiepnhan", option, value)
        fails(result, option, exit_code=2)
        assert "unexpected" not in result.output
        params = {option.removeprefix("--"): value}
        assert api.client.get("/api/v1/dossiers", params=params, headers=h).status_code == 422
    for option, value in (("--offset", "-1"), ("--limit", "0"), ("--limit", "201")):
        fails(cli("dossier", "list", "--as", "tiepnhan", option, value), option, exit_code=2)
        params = {option.removeprefix("--"): value}
        assert api.client.get("/api/v1/dossiers", params=params, headers=h).status_code == 422
    # The largest offset both accept is an empty page, not an error.
    result = cli(
        "dossier", "list", "--as", "tiepnhan", "--offset", str(INT64_MAX), "--limit", "200"
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert code not in result.stdout and "of 1" in result.stdout
    r = api.client.get("/api/v1/dossiers", params={"offset": INT64_MAX, "limit": 200}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == [], r.text


def test_complete_dossier_with_a_refusal_reason_is_a_422_naming_the_fields(api: Api) -> None:
    reason = "Không thuộc thẩm quyền của UBND xã"
    r = _post(api, refusal_reason=reason)
    _refused(r, ["refusal_reason"], "complete=false", "refusal_reason")
    r = _post(api, refusal_reason=reason, missing_documents=["Tờ khai"])
    _refused(r, ["missing_documents", "refusal_reason"], "missing_documents", "refusal_reason")
    r = _post(api, missing_documents=["Tờ khai"])
    _refused(r, ["missing_documents"], "complete=false", "missing_documents")
    assert _total(api) == 0
    # Refused and asked for more documents at once: one or the other.
    r = _post(api, complete=False, refusal_reason=reason, missing_documents=["Tờ khai"])
    _refused(r, ["missing_documents", "refusal_reason"], "refusal_reason", "missing_documents")
    assert _total(api) == 0
    # With complete=false the same reason is the refusal the official meant.
    refused = _post(api, complete=False, refusal_reason=reason)
    assert refused.status_code == 201 and refused.json()["status"] == 3, refused.text


def test_closing_a_closed_dossier_says_so_in_vietnamese_and_english(api: Api) -> None:
    code = _post(api).json()["code"]
    withdraw, suspend = (f"/api/v1/dossiers/{code}/{act}" for act in ("withdraw", "suspend"))
    body = {"reason": "Công dân xin rút"}
    assert api.client.post(withdraw, json=body, headers=api.login("tiepnhan")).status_code == 200
    for url, user, vi, en in (
        (withdraw, "tiepnhan", "không thể rút hồ sơ", "cannot be withdrawn"),
        (suspend, "lanhdao", "không thể dừng xử lý", "cannot be suspended"),
    ):
        r = api.client.post(url, json=body, headers=api.login(user))
        assert r.status_code == 409 and r.json()["error"] == "dossier_closed", r.text
        vietnamese, english = r.json()["detail"].split(" / ")
        assert vi in vietnamese and "withdraw" not in vietnamese and "suspend" not in vietnamese
        assert en in english and "already closed" in english
