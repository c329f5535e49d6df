"""Bad input and a missing database give a 4xx or a 503 that names the problem, never a 500."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import IntegrityError, OperationalError

from api.app import build_state, create_app
from api.settings import Settings
from storage.errors import DatabaseUnavailableError
from storage.models import Base
from tests.conftest import WORKFLOWS, Api

HUGE = "99999999999999999999999"  # past any integer column
PAST_INT32 = "2147483648"  # fits SQLite's 64 bits, not PostgreSQL's INTEGER ids
PAST_INT64 = "9223372036854775808"
BIRTH = yaml.safe_load(
    (WORKFLOWS / "catalogue" / "dang-ky-khai-sinh.yaml").read_text(encoding="utf-8")
)


def _row_counts(api: Api) -> dict[str, int]:
    """Rows per table: equal before and after means the request wrote nothing."""
    with api.state.engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def unreachable_database(api: Api, tmp_path: Path) -> Iterator[TestClient]:
    """The app over a database that does not answer: a closed port, or a file in no folder."""
    if api.state.engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-folder' / 'lienthong.db'}"
    else:
        url = (
            make_url(api.state.engine.url)
            .set(host="127.0.0.1", port=_closed_port(), query={"connect_timeout": "3"})
            .render_as_string(hide_password=False)
        )
    settings = Settings(data_dir=tmp_path / "down", database_url=url, demo=True)
    state = build_state(settings)
    try:
        with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
            yield client
    finally:
        state.engine.dispose()


# ---------------------------------------------------------------- numbers past the columns


@pytest.mark.parametrize(
    ("method", "path", "code", "noun"),
    [
        ("GET", "/api/v1/tasks/{}", "task_not_found", "No task"),
        ("POST", "/api/v1/tasks/{}/claim", "task_not_found", "No task"),
        ("POST", "/api/v1/tasks/{}/complete", "task_not_found", "No task"),
        # load_instance's own 404 (an id that fits the column) has the plain code.
        ("GET", "/api/v1/instances/{}", "instance_not_found", "No instance"),
        ("GET", "/api/v1/documents/{}", "document_not_found", "No document"),
    ],
)
@pytest.mark.parametrize("number", [HUGE, PAST_INT32, PAST_INT64])
def test_path_id_too_large_for_its_column_is_404_naming_it(
    api: Api, method: str, path: str, code: str, noun: str, number: str
) -> None:
    h = api.login("admin")
    before = _row_counts(api)
    body: dict[str, Any] | None = {"data": {}} if path.endswith("complete") else None
    r = api.client.request(method, path.format(number), json=body, headers=h)
    assert r.status_code == 404, r.text
    assert r.json()["error"] in code.split("|")
    assert f"{noun} {number}" in r.json()["detail"]
    assert _row_counts(api) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks",
        "/api/v1/users",
        "/api/v1/procedures",
        "/api/v1/dossiers",
        "/api/v1/documents",
    ],
)
@pytest.mark.parametrize("number", [HUGE, PAST_INT64])
def test_offset_too_large_is_422_naming_offset(api: Api, path: str, number: str) -> None:
    r = api.client.get(path, params={"offset": number}, headers=api.login("admin"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "value_out_of_range"
    assert "offset" in body["detail"] and "out of range" in body["detail"]
    assert [f["field"] for f in body["fields"]] == ["offset"]


def test_offset_that_fits_64_bits_still_pages(api: Api) -> None:
    r = api.client.get("/api/v1/users", params={"offset": PAST_INT32}, headers=api.login("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


# ---------------------------------------------------------------- the database does not answer


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/token"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/procedures/1.001193"),
        ("GET", f"/api/v1/tasks/{HUGE}"),
    ],
)
def test_every_route_answers_503_with_retry_after_while_the_database_is_down(
    api: Api, tmp_path: Path, method: str, path: str
) -> None:
    form = {"username": "admin", "password": "demo"} if path.endswith("token") else None
    with unreachable_database(api, tmp_path) as down:
        r = down.request(method, path, data=form, headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert "Cơ sở dữ liệu không trả lời" in r.json()["detail"]
    assert "The database does not answer" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0


def _raising(exc: Exception) -> Any:
    def route() -> None:
        raise exc

    return route


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


def _constraint() -> IntegrityError:
    orig = sqlite3.IntegrityError("NOT NULL constraint failed: users.username")
    return IntegrityError("INSERT INTO users", {}, orig)


def _unique() -> IntegrityError:
    orig = sqlite3.IntegrityError("UNIQUE constraint failed: users.username")
    return IntegrityError("INSERT INTO users", {}, orig)


def _unavailable() -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        "Cơ sở dữ liệu không trả lời / The database does not answer: OperationalError"
    )


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry"),
    [
        (_unavailable(), 503, "database_unavailable", True),
        (_locked(), 503, "database_busy", True),
        (_constraint(), 500, "internal_error", False),
        # A duplicate a service did not foresee (two requests at once): a conflict, logged.
        (_unique(), 409, "conflict", False),
    ],
    ids=["unavailable_error", "sqlite_locked", "constraint_violation", "unique_violation"],
)
def test_database_errors_map_to_503_but_a_constraint_violation_stays_a_logged_500(
    api: Api, exc: Exception, status: int, code: str, retry: bool
) -> None:
    app = create_app(state=api.state)
    app.add_api_route("/boom", _raising(exc))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    assert "Traceback" not in r.text
    assert ("Retry-After" in r.headers) is retry


# ---------------------------------------------------------------- field names in 422


def test_procedure_errors_are_one_field_each_with_their_real_path(api: Api) -> None:
    h = api.login("thietke")
    before = _row_counts(api)
    documents = [{**BIRTH["documents"][0], "copies": "two"}, *BIRTH["documents"][1:]]
    body = {**BIRTH, "code": "bad code", "level": "district", "documents": documents}
    r = api.client.post("/api/v1/procedures", json=body, headers=h)
    assert r.status_code == 422, r.text
    fields = {f["field"]: f["message"] for f in r.json()["fields"]}
    assert set(fields) == {"code", "level", "documents.0.copies"}
    assert "pattern" in fields["code"]
    assert "commune" in fields["level"] and "district" not in fields["code"]
    assert "integer" in fields["documents.0.copies"]
    assert _row_counts(api) == before


def test_procedure_update_names_each_bad_field(api: Api) -> None:
    h = api.login("thietke")
    before = _row_counts(api)
    body = {**BIRTH, "processing_days": 0, "colour": "red"}
    r = api.client.put(f"/api/v1/procedures/{BIRTH['code']}", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert sorted(f["field"] for f in r.json()["fields"]) == ["colour", "processing_days"]
    assert _row_counts(api) == before


def test_malformed_json_names_the_body_and_where(api: Api) -> None:
    h = api.login("admin") | {"Content-Type": "application/json"}
    before = _row_counts(api)
    r = api.client.post("/api/v1/auth/api-tokens", content=b'{"name": nope}', headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert [f["field"] for f in body["fields"]] == ["body"]
    assert "Malformed JSON at character 9" in body["fields"][0]["message"]
    assert "Malformed JSON" in body["detail"]
    assert _row_counts(api) == before


def test_id_of_thousands_of_digits_is_422_naming_the_id(api: Api) -> None:
    r = api.client.get(f"/api/v1/tasks/{'9' * 5000}", headers=api.login("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    assert [f["field"] for f in r.json()["fields"]] == ["task_id"]


def test_a_multipart_body_without_a_boundary_is_a_400_in_both_languages(api: Api) -> None:
    r = api.client.post(
        "/api/v1/files",
        content=b"--x\r\n\r\n",
        headers=api.login("chuyenvien") | {"Content-Type": "multipart/form-data"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("Yêu cầu không hợp lệ / ")
    unknown = api.client.get("/api/v1/no-such-route", headers=api.login("chuyenvien"))
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "Không tìm thấy / Not Found"
