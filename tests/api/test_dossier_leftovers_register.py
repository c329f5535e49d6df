"""The dossier tracking register (form 06) carries the form's columns, over HTTP and from the
CLI alike, and counts, with the timeliness figures, the dossiers an agency decides wherever
they were received (demo users)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from engine.calendar import VN_TZ
from engine.dossiers.register import REGISTER_COLUMNS
from tests.api.test_dossier_return import _complete_return, _receive_at_centre
from tests.api.test_dossiers_api import _do, _receive
from tests.api.test_liaison_non_boundary import _receive_for_commune1
from tests.cli import Cli, fails
from tests.conftest import Api

# Form 06 of Circular 01/2018/TT-VPCP, in its order (see docs/one-stop.md).
FORM_06 = [
    "STT",
    "Mã hồ sơ",
    "Tên TTHC",
    "Số lượng hồ sơ (bộ)",
    "Tên cá nhân, tổ chức",
    "Địa chỉ, số điện thoại",
    "Cơ quan chủ trì giải quyết",
    "Nhận hồ sơ",
    "Hẹn trả kết quả",
    "Chuyển hồ sơ đến cơ quan giải quyết",
    "Nhận kết quả từ cơ quan giải quyết",
    "Trả kết quả",
    "Ký nhận",
    "Ghi chú",
]
SENT, BACK = "Chuyển hồ sơ đến cơ quan giải quyết", "Nhận kết quả từ cơ quan giải quyết"


def _period() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }


def _register(api: Api, user: str, fmt: str = "csv") -> bytes:
    r = api.client.get(
        "/api/v1/dossier-register", params=_period() | {"format": fmt}, headers=api.login(user)
    )
    assert r.status_code == 200, r.text
    return r.content


def _rows(content: bytes) -> list[dict[str, str]]:
    """The register's rows by column name; the header must be the whole export's."""
    header, *rows = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    assert header == REGISTER_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def _at(cell: str) -> datetime:
    return datetime.strptime(cell, "%d/%m/%Y %H:%M").replace(tzinfo=VN_TZ)


def _handover_at(api: Api, user: str, code: str, task: str) -> datetime:
    view = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login(user)).json()
    (at,) = [
        e["at"]
        for e in view["timeline"]
        if e["kind"] == "handover" and e["details"]["task"] == task
    ]
    return datetime.fromisoformat(at)


def _near(cell: str, moment: datetime) -> bool:
    """The register's cell (to the minute) reads `moment`, give or take the instants between
    a step's hand-over and the next step's arrival, which may straddle a minute."""
    return timedelta(minutes=-1) < moment - _at(cell) < timedelta(minutes=2)


def test_register_has_the_columns_of_form_06_and_the_handover_to_the_department(
    api: Api,
) -> None:
    code = _receive_at_centre(api)  # the department has issued the result
    (row,) = _rows(_register(api, "tiepnhan.tt"))
    assert REGISTER_COLUMNS[: len(FORM_06)] == FORM_06
    assert REGISTER_COLUMNS[-1] == "Tiến độ"  # the machine-friendly columns follow
    assert (row["STT"], row["Mã hồ sơ"], row["Số lượng hồ sơ (bộ)"]) == ("1", code, "1")
    assert row["Tên TTHC"] == "Đăng ký thành lập doanh nghiệp tư nhân"
    assert (row["Tên cá nhân, tổ chức"], row["Địa chỉ, số điện thoại"]) == (
        "Nguyễn Thị Hoa",
        "0912 345 678",
    )
    assert row["Cơ quan chủ trì giải quyết"] == "Sở Tư pháp tỉnh Lam Sơn"
    assert (row["Mã TTHC"], row["Kênh tiếp nhận"]) == ("2.001610", "Trực tiếp")
    # Sent when the desk's check ended, back when the department's clerk issued the result.
    assert _near(row[SENT], _handover_at(api, "tiepnhan.tt", code, "receive"))
    assert _near(row[BACK], _handover_at(api, "tiepnhan.tt", code, "issue_result"))
    assert _at(row["Nhận hồ sơ"]) <= _at(row[SENT]) <= _at(row[BACK])
    assert row["Trả kết quả"] == "" and row["Ký nhận"] == ""
    assert row["Trạng thái"] == "Đã xử lý xong"
    assert _complete_return(api, code, {"returned_by": "counter"}).status_code == 200
    (row,) = _rows(_register(api, "tiepnhan.tt"))
    assert _at(row[BACK]) <= _at(row["Trả kết quả"])


def test_register_shows_the_liaison_handover_and_leaves_it_empty_without_one(api: Api) -> None:
    liaison = _receive_for_commune1(api, "tiepnhan")  # commune 1 receives and decides it
    for user, task, data in (
        ("tiepnhan", "receive", {}),
        ("chuyenvien", "appraise_birth", {"appraisal": "eligible"}),
        ("lanhdao", "approve_birth", {"decision": "approve"}),
        ("congan", "register_residence", {"residence_registered": True}),
        ("bhxh", "issue_insurance_card", {"card_number": "TE1010012345678"}),
    ):
        _do(api, user, task, liaison, data)
    at_home = _receive(api)["code"]  # the commune decides it and nobody else holds a step
    rows = {row["Mã hồ sơ"]: row for row in _rows(_register(api, "tiepnhan"))}
    assert _near(rows[liaison][SENT], _handover_at(api, "tiepnhan", liaison, "approve_birth"))
    # Back once both the police and the social-insurance office were done, whichever last.
    last = max(
        _handover_at(api, "tiepnhan", liaison, task)
        for task in ("register_residence", "issue_insurance_card")
    )
    assert _near(rows[liaison][BACK], last)
    assert rows[liaison]["Cơ quan chủ trì giải quyết"] == "UBND xã Hoà Bình"
    assert (rows[at_home][SENT], rows[at_home][BACK]) == ("", "")


def test_cli_exports_the_same_register_as_the_api(api: Api, cli: Cli, tmp_path: Path) -> None:
    _receive_at_centre(api)
    period = _period()
    as_csv, as_xlsx = tmp_path / "so.csv", tmp_path / "so.xlsx"
    for out in (as_csv, as_xlsx):
        r = cli(
            "dossier", "register", "--as", "tiepnhan.tt", "--from", period["from"],
            "--to", period["to"], "--out", str(out),
        )  # fmt: skip
        assert r.exit_code == 0, (r.stdout, r.stderr)
        assert "1 hồ sơ / dossiers" in r.stdout
    api_csv = _register(api, "tiepnhan.tt")
    assert as_csv.read_bytes() == api_csv
    sheet = load_workbook(as_xlsx).active
    assert sheet is not None
    cells = [[c.value or "" for c in row] for row in sheet.iter_rows()]
    assert [dict(zip(cells[0], row, strict=True)) for row in cells[1:]] == _rows(api_csv)
    assert cells[0][: len(FORM_06)] == FORM_06
    bad = ("dossier", "register", "--as", "tiepnhan.tt", "--from", period["to"])
    fails(cli(*bad, "--to", period["from"], "--out", str(as_csv)), "'to' must be after 'from'")
    fails(cli(*bad, "--to", period["to"], "--out", str(tmp_path / "so.pdf")), ".csv or .xlsx")
    fails(
        cli(*bad[:-1], "hôm qua", "--to", period["to"], "--out", str(as_csv)),
        "--from must be a date YYYY-MM-DD",
    )


def _counted(api: Api, user: str, **params: str) -> int:
    r = api.client.get("/api/v1/stats/timeliness", params=params, headers=api.login(user))
    assert r.status_code == 200, r.text
    total: int = r.json()["total"]
    return total


def test_the_deciding_department_counts_what_the_centre_received_once(api: Api) -> None:
    code = _receive_at_centre(api)  # received at the centre, decided by the department
    own = _receive(api)["code"]  # a commune's own: the department has nothing to do with it
    for user in ("lanhdao.so", "chuyenvien.so"):
        assert _counted(api, user) == 1, user
        assert [r["Mã hồ sơ"] for r in _rows(_register(api, user))] == [code], user
    assert _counted(api, "tiepnhan.tt") == 1  # the receiving centre still counts it
    # The province holds both the centre and the department: each dossier once.
    assert _counted(api, "admin") == 2
    assert _counted(api, "admin", agency="000.00.10.H99") == 1
    assert sorted(r["Mã hồ sơ"] for r in _rows(_register(api, "admin"))) == sorted([code, own])
