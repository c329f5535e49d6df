"""`lienthong dossier request-supplement` and `supplement` on each database (Typer's runner
against the test database; the process steps before them go over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from api.cli import app
from tests.api.test_dossier_supplement import _kinds, _receive, _to_appraisal, _view
from tests.conftest import Api

Cli = Callable[..., Result]
ITEMS = ["Bản sao Giấy khai sinh", "Giấy xác nhận cư trú"]


@pytest.fixture
def cli(api: Api, db_url: str, tmp_path: Path) -> Cli:
    """`lienthong ARGS…` in-process, configured like an operator's shell for this database."""
    runner = CliRunner()
    env = {
        "LIENTHONG_DATABASE_URL": db_url,
        "LIENTHONG_DATA_DIR": str(tmp_path / "data"),
        "LIENTHONG_DEMO": "1",
    }

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return run


def _ok(result: Result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def _fails(result: Result, *words: str, exit_code: int = 1) -> None:
    """Refused with one sentence (Vietnamese / English), never a traceback."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    if exit_code == 1:
        assert text.startswith("error: ") and " / " in text, text
    for w in words:
        assert w in text, text


def _ask(cli: Cli, code: str, *extra: str, user: str = "chuyenvien") -> Result:
    items = [a for item in ITEMS for a in ("--item", item)]
    return cli("dossier", "request-supplement", code, *items, "--as", user, *extra)


def test_official_asks_for_a_supplement_and_the_desk_records_it(api: Api, cli: Cli) -> None:
    code = _receive(api)["code"]
    _to_appraisal(api, code)

    asked = _ok(_ask(cli, code, "--reason", "Thiếu giấy tờ chứng minh cư trú"))
    assert (asked["code"], asked["status"]) == (code, 5)
    assert asked["missing_documents"] == ITEMS and asked["supplement_requests"] == 1
    request = _kinds(asked, "supplement_requested")[-1]
    assert request["note"] == "Thiếu giấy tờ chứng minh cư trú" and request["by"] == "chuyenvien"
    assert _view(api, code)["status"] == 5  # committed, as the API sees it

    resumed = _ok(cli("dossier", "supplement", code, "--note", "Đã nộp đủ", "--as", "tiepnhan"))
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

    _fails(_ask(cli, "000.01.20.H99-990101-0001"), "No dossier 000.01.20.H99-990101-0001")
    _fails(_ask(cli, code, user="nobody"), "no user nobody")
    _fails(_ask(cli, code, user="lanhdao"), "only the official holding")  # no waiting step
    _fails(
        cli("dossier", "request-supplement", code, "--item", "  ", "--as", "chuyenvien"),
        "list the missing documents",
    )
    _fails(cli("dossier", "request-supplement", code, "--as", "chuyenvien"), exit_code=2)
    _fails(cli("dossier", "supplement", code, "--as", "tiepnhan"), "not waiting for a supplement")
    view = _view(api, code)
    assert view["status"] == 4 and view["supplement_requests"] == 0

    _ok(_ask(cli, code))
    _fails(_ask(cli, code), "already waiting for a supplement")
    _fails(cli("dossier", "supplement", code, "--as", "chuyenvien"), "only the receiving desk")
    withdrawn = api.client.post(
        f"/api/v1/dossiers/{code}/withdraw",
        json={"reason": "Công dân rút hồ sơ"},
        headers=api.login("tiepnhan"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    _fails(_ask(cli, code), "already closed")
    _fails(cli("dossier", "supplement", code, "--as", "tiepnhan"), "not waiting for a supplement")
    view = _view(api, code)
    assert view["status"] == 7 and view["supplement_requests"] == 1
