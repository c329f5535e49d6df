"""`lienthong dossier …` on each database (Typer's runner against the test database; the
process steps before them go over HTTP): receive, list and stats with every option of the
HTTP API and the same results, show, request-supplement and supplement."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from click.testing import Result

from tests.api.test_dossier_return import ADDRESS, _complete_return, _receive_at_centre
from tests.api.test_dossier_supplement import _kinds, _receive, _to_appraisal, _view
from tests.cli import Cli, fails, ok
from tests.conftest import Api

ITEMS = ["Bản sao Giấy khai sinh", "Giấy xác nhận cư trú"]
CODE = re.compile(r"\b\d{3}\.\d{2}\.\d{2}\.H\d{2}-\d{6}-\d{4}\b")
VN = timezone(timedelta(hours=7))


def _ask(cli: Cli, code: str, *extra: str, user: str = "chuyenvien") -> Result:
    items = [a for item in ITEMS for a in ("--item", item)]
    return cli("dossier", "request-supplement", code, *items, "--as", user, *extra)


def test_official_asks_for_a_supplement_and_the_desk_records_it(api: Api, cli: Cli) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)

    asked = ok(_ask(cli, code, "--reason", "Thiếu giấy tờ chứng minh cư trú"))
    assert (asked["code"], asked["status"]) == (code, 5)
    assert asked["missing_documents"] == ITEMS and asked["supplement_requests"] == 1
    request = _kinds(asked, "supplement_requested")[-1]
    assert request["note"] == "Thiếu giấy tờ chứng minh cư trú" and request["by"] == "chuyenvien"
    assert _view(api, code)["status"] == 5  # committed, as the API sees it

    resumed = ok(cli("dossier", "supplement", code, "--note", "Đã nộp đủ", "--as", "tiepnhan"))
    assert resumed["status"] == 4 and resumed["timeliness"] == "in_time"
    done = _kinds(resumed, "supplemented")[-1]
    assert done["note"] == "Đã nộp đủ" and done["by"] == "tiepnhan"
    assert "waited_seconds" in done["details"]
    assert _view(api, code)["status"] == 4


def test_bad_supplement_commands_exit_with_a_sentence_and_change_nothing(
    api: Api, cli: Cli
) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)

    fails(_ask(cli, "000.01.20.H99-990101-0001"), "No dossier 000.01.20.H99-990101-0001")
    fails(_ask(cli, code, user="nobody"), "no user nobody")
    fails(_ask(cli, code, user="lanhdao"), "only the official holding")  # no waiting step
    fails(
        cli("dossier", "request-supplement", code, "--item", "  ", "--as", "chuyenvien"),
        "list the missing documents",
    )
    fails(cli("dossier", "request-supplement", code, "--as", "chuyenvien"), exit_code=2)
    fails(cli("dossier", "supplement", code, "--as", "tiepnhan"), "not waiting for a supplement")
    view = _view(api, code)
    assert view["status"] == 4 and view["supplement_requests"] == 0

    ok(_ask(cli, code))
    fails(_ask(cli, code), "already waiting for a supplement")
    fails(cli("dossier", "supplement", code, "--as", "chuyenvien"), "only the receiving desk")
    withdrawn = api.client.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "Công dân rút hồ sơ"},
        headers=api.login("tiepnhan"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    fails(_ask(cli, code), "already closed")
    fails(cli("dossier", "supplement", code, "--as", "tiepnhan"), "not waiting for a supplement")
    view = _view(api, code)
    assert view["status"] == 7 and view["supplement_requests"] == 1


def _codes(result: Result) -> list[str]:
    """The dossier codes of `dossier list`'s table, in its order."""
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return CODE.findall(result.stdout)


def _receive_args(**over: str) -> list[str]:
    options = {
        "procedure": "1.004873",
        "name": "Trần Thị Bưu",
        "id-number": "001190099999",
        "phone": "0912 000 111",
        "as": "tiepnhan",
    } | over
    return ["dossier", "receive", *(a for k, v in options.items() for a in (f"--{k}", v))]


def _dossiers(api: Api, user: str, **params: str | int) -> dict[str, Any]:
    r = api.client.get("/api/v1/dossiers", params=params, headers=api.login(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_receive_takes_everything_the_api_takes(api: Api, cli: Cli) -> None:
    yesterday = (datetime.now(VN) - timedelta(days=1)).replace(microsecond=0)
    received = ok(
        cli(
            *_receive_args(procedure="2.001610", **{"as": "tiepnhan.tt"}),
            *("--email", "buu@example.vn", "--address", ADDRESS, "--channel", "post"),
            *("--competent-agency", "000.00.10.H99", "--received-at", yesterday.isoformat()),
        )
    )
    code = received["code"]
    assert code.startswith("000.00.30.H99-") and received["status"] == 2
    assert (received["channel"], received["competent_agency"]) == ("post", "000.00.10.H99")
    assert received["applicant"] == {
        "full_name": "Trần Thị Bưu",
        "id_number": "001190099999",
        "phone": "0912 000 111",
        "email": "buu@example.vn",
        "address": ADDRESS,
    }
    assert datetime.fromisoformat(received["received_at"]) == yesterday
    # The competent department finds it, as the API shows it.
    r = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("lanhdao.so"))
    assert r.status_code == 200 and r.json()["applicant"]["email"] == "buu@example.vn"

    refused = ok(cli(*_receive_args(), "--refusal-reason", "Không thuộc thẩm quyền"))
    assert (refused["status"], refused["refusal_reason"]) == (3, "Không thuộc thẩm quyền")
    incomplete = ok(cli(*_receive_args(), "--missing", "Tờ khai", "--missing", "Bản sao CCCD"))
    assert incomplete["status"] == 5
    assert incomplete["missing_documents"] == ["Tờ khai", "Bản sao CCCD"]
    assert _dossiers(api, "tiepnhan")["total"] == 2


def test_bad_receive_options_exit_with_a_sentence_and_create_nothing(api: Api, cli: Cli) -> None:
    future = (datetime.now(VN) + timedelta(days=2)).isoformat()
    fails(cli(*_receive_args(), "--email", "not-an-email"), "--email", "an email address")
    fails(
        cli(*_receive_args(**{"id-number": "123"})),
        "--id-number (applicant.id_number): cần 12 chữ số CCCD hoặc 9 chữ số CMND / 9 or 12 digits",
    )
    fails(cli(*_receive_args(), "--address", "x" * 501), "--address (applicant.address)")
    fails(cli(*_receive_args(), "--missing", "  "), "--missing (missing_documents)")
    fails(cli(*_receive_args(), "--received-at", "hôm qua"), "--received-at (received_at)")
    fails(cli(*_receive_args(), "--received-at", "2026-03-01T08:00"), "needs a UTC offset")
    fails(cli(*_receive_args(), "--received-at", future), "cannot be in the future")
    fails(cli(*_receive_args(), "--channel", "fax"), "fax", exit_code=2)
    fails(cli(*_receive_args(procedure="9.999999")), "No procedure 9.999999")
    fails(
        cli(*_receive_args(), "--competent-agency", "000.00.99.H99"),
        "No agency with code 000.00.99.H99",
    )
    fails(
        cli(*_receive_args(procedure="1.001193"), "--competent-agency", "000.00.40.H99"),
        "cannot decide procedure 1.001193",
    )
    fails(cli(*_receive_args(**{"as": "chuyenvien"})), "reception role required")
    assert _dossiers(api, "tiepnhan")["total"] == 0


def test_list_filters_and_pages_like_the_api(api: Api, cli: Cli) -> None:
    now = datetime.now(VN)
    old = _receive(api, received_at=(now - timedelta(days=30)).isoformat())["code"]
    recent = [_receive(api)["code"] for _ in range(2)]
    waiting = _receive(api, complete=False, missing_documents=["Tờ khai"])["code"]
    birth = _receive(api, procedure_code="1.001193")["code"]
    everything = {old, waiting, birth, *recent}

    def listed(*options: str, **params: str | int) -> set[str]:
        got = _codes(cli("dossier", "list", "--as", "tiepnhan", *options))
        expected = [d["code"] for d in _dossiers(api, "tiepnhan", **params)["items"]]
        assert got == expected, (options, params)
        return set(got)

    assert listed() == everything
    assert listed("--status", "5", status=5) == {waiting}
    assert listed("--procedure", "1.001193", procedure="1.001193") == {birth}
    assert listed("--overdue", overdue="true") == {old}
    assert listed("--not-overdue", overdue="false") == everything - {old}
    week_ago = (now - timedelta(days=7)).date()
    start = datetime.combine(week_ago, datetime.min.time(), VN).isoformat()
    assert listed("--from", week_ago.isoformat(), **{"from": start}) == everything - {old}
    assert listed("--to", week_ago.isoformat(), to=start) == {old}
    cut = (now - timedelta(days=29)).isoformat()
    assert listed("--from", cut, "--to", cut, **{"from": cut, "to": cut}) == set()
    filters: dict[str, str | int] = {"status": 2, "procedure": "1.004873", "overdue": "false"}
    options = ("--status", "2", "--procedure", "1.004873", "--not-overdue")
    assert listed(*options, **filters) == set(recent)

    page = cli("dossier", "list", "--as", "tiepnhan", "--limit", "2", "--offset", "1")
    assert _codes(page) == [
        d["code"] for d in _dossiers(api, "tiepnhan", limit=2, offset=1)["items"]
    ]
    assert "2–3 of 5" in page.stdout


def test_stats_for_a_period_match_the_api(api: Api, cli: Cli) -> None:
    _receive(api, received_at="2026-01-06T08:00:00+07:00")  # open, long overdue
    _receive(api, received_at="2026-02-03T08:00:00+07:00")
    _receive(api)

    def stats(*options: str, **params: str) -> dict[str, Any]:
        got = ok(cli("dossier", "stats", "--as", "lanhdao", *options))
        r = api.client.get("/api/v1/stats/timeliness", params=params, headers=api.login("lanhdao"))
        assert r.status_code == 200 and got == r.json(), (got, r.text)
        result: dict[str, Any] = got
        return result

    january = stats(
        "--from", "2026-01-01", "--to", "2026-02-01",
        **{"from": "2026-01-01T00:00:00+07:00", "to": "2026-02-01T00:00:00+07:00"},
    )  # fmt: skip
    assert (january["total"], january["open_overdue"]) == (1, 1)
    since = stats("--from", "2026-02-01T00:00:00+07:00", **{"from": "2026-02-01T00:00:00+07:00"})
    assert since["total"] == 2
    assert stats()["total"] == 3


def test_bad_list_and_stats_options_exit_with_a_sentence(api: Api, cli: Cli) -> None:
    fails(cli("dossier", "list", "--as", "tiepnhan", "--from", "hôm qua"), "--from", "YYYY-MM-DD")
    fails(cli("dossier", "stats", "--as", "lanhdao", "--to", "2026-03-01T08:00"), "--to", "offset")
    fails(cli("dossier", "list", "--as", "tiepnhan", "--status", "11"), exit_code=2)
    fails(cli("dossier", "list", "--as", "tiepnhan", "--limit", "0"), exit_code=2)
    fails(cli("dossier", "list", "--as", "nobody"), "no user nobody")
    fails(
        cli("dossier", "stats", "--as", "lanhdao", "--agency", "000.00.99.H99"),
        "No agency with code 000.00.99.H99",
    )
    fails(
        cli("dossier", "stats", "--as", "tiepnhan", "--agency", "000.00.10.H99"),
        "outside your agency's subtree",
    )
    # Over HTTP the same period without an offset is a 422 too (it was a 500).
    h = api.login("lanhdao")
    for path, bound in (("/api/v1/dossiers", "from"), ("/api/v1/stats/timeliness", "to")):
        r = api.client.get(path, params={bound: "2026-03-01T08:00"}, headers=h)
        assert r.status_code == 422 and bound in r.json()["detail"], r.text


def test_show_tells_how_the_result_was_returned(api: Api, cli: Cli) -> None:
    code = _receive_at_centre(api)
    r = _complete_return(api, code, {"returned_by": "post", "postal_address": ADDRESS})
    assert r.status_code == 200, r.text
    shown = ok(cli("dossier", "show", code, "--as", "tiepnhan.tt"))
    assert (shown["status"], shown["returned_by"], shown["postal_address"]) == (10, "post", ADDRESS)
    assert shown["returned_by_name"] == "Qua bưu chính công ích"
