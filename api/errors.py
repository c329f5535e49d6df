"""One renderer for every error: `{"error": code, "detail": message, "fields": [...]}`.

Database failures arrive here untranslated from any query, so they are sorted once:

    OverflowError (sqlite3), 22003 (PostgreSQL)   a number too big for its column:
                                                  404 for a path id, else 422
    no connection, unreadable file                503 database_unavailable, Retry-After
    locked, deadlock, pool exhausted              503 database_busy, Retry-After
    a unique violation a service did not catch    409 conflict (two requests created the
                                                  same thing at once), logged
    anything else (other constraint violations)   the catch-all: logged, 500
"""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any, Literal

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.errors import NumericValueOutOfRange
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import LienthongError, RateLimitedError
from engine.unique import is_unique_violation
from signing.errors import SigningError
from storage.errors import DatabaseUnavailableError, StorageError

__all__ = ["error_responses", "install_error_handlers"]

log = logging.getLogger("lienthong.api")

# Ids are INTEGER on PostgreSQL; SQLite and PostgreSQL's OFFSET take 64 bits.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
RETRY_UNAVAILABLE_SECONDS = 30
RETRY_BUSY_SECONDS = 5
# What a path id names, for a 404 worded like the services' own.
_PATH_IDS: dict[str, tuple[str, str, str]] = {
    "task_id": ("task_not_found", "công việc", "task"),
    "instance_id": ("instance_not_found", "phiên quy trình", "instance"),
    "document_id": ("document_not_found", "văn bản", "document"),
    "file_id": ("file_not_found", "tệp", "file"),
}
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error", "readonly database")
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_DB_ERRORS = (SQLAlchemyError, psycopg.Error, sqlite3.Error, OverflowError)

Trouble = Literal["out_of_range", "nul_character", "unavailable", "busy", "duplicate"]


def _body(
    status: int,
    code: str,
    detail: str,
    fields: Any = None,
    *,
    retry_after: int | None = None,
) -> JSONResponse:
    content: dict[str, Any] = {"error": code, "detail": detail}
    if fields:
        content["fields"] = fields
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(content, status_code=status, headers=headers or None)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _validation_field(error: Any) -> dict[str, str]:
    if error["type"] == "json_invalid":
        # The location is a character offset into the body, not a field.
        at = error["loc"][-1] if len(error["loc"]) > 1 else "?"
        why = error.get("ctx", {}).get("error", "")
        return {
            "field": "body",
            "message": f"JSON không hợp lệ ở ký tự {at} / Malformed JSON at character {at}"
            + (f": {why}" if why else ""),
        }
    field = _field_name(tuple(error["loc"]))
    if error["type"] == "non_finite_number":
        # Found deep in a free-form JSON object (`api.schemas.Input`): say where.
        field = ".".join([field, *(str(k) for k in error["ctx"]["json_path"])])
    return {"field": field, "message": error["msg"]}


def _classify(exc: BaseException) -> Trouble | None:
    """Which database trouble `exc` is, or None when it is a bug (500)."""
    if isinstance(exc, PoolTimeoutError):
        return "busy"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "unavailable"
    # A driver error, or one raised while binding a parameter (a date past year 9999 in UTC).
    orig = exc.orig if isinstance(exc, StatementError) else exc
    if isinstance(orig, OverflowError | NumericValueOutOfRange):
        return "out_of_range"
    if is_unique_violation(exc):
        return "duplicate"
    if isinstance(orig, psycopg.DataError) and "NUL" in str(orig):
        return "nul_character"  # PostgreSQL text cannot hold \x00 (a query parameter, say)
    if isinstance(orig, psycopg.OperationalError):
        state = orig.sqlstate or ""  # no SQLSTATE: the client lost or never had the server
        if not state or state.startswith(("08", "53", "57P")):
            return "unavailable"
        if state.startswith("40") or state in ("55P03", "57014"):
            return "busy"  # deadlock, serialization, lock or statement timeout
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        if any(m in text for m in _SQLITE_UNAVAILABLE):
            return "unavailable"
        if any(m in text for m in _SQLITE_BUSY):
            return "busy"
    return None


def _integer(text: str) -> int:
    # int() refuses more than 4300 digits; past 30, any range here is exceeded anyway.
    return int(text) if len(text) <= 30 else 2**128


def _too_big(request: Request) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    """The path and query parameters that are integers past the widest range any exceed."""
    params = [("path", k, v) for k, v in request.path_params.items() if isinstance(v, str)]
    params += [("query", k, v) for k, v in request.query_params.multi_items()]
    numbers = [(where, k, v, _integer(v)) for where, k, v in params if _INTEGER.fullmatch(v)]
    for limit in (INT64_MAX, INT32_MAX):
        hits = [(where, k, v) for where, k, v, n in numbers if not -limit - 1 <= n <= limit]
        if hits:
            path = [(k, v) for where, k, v in hits if where == "path"]
            query = [(k, v) for where, k, v in hits if where == "query"]
            return path, query, limit
    return [], [], INT64_MAX


def _out_of_range(request: Request) -> JSONResponse:
    path, query, limit = _too_big(request)
    if path:
        name, value = path[0]
        code, vi, en = _PATH_IDS.get(
            name, ("not_found", "đối tượng", name.removesuffix("_id").replace("_", " "))
        )
        return _body(404, code, f"Không có {vi} {value} / No {en} {value}")
    fields = [
        {"field": name, "message": f"quá lớn, tối đa {limit} / too large, at most {limit}"}
        for name, _ in query
    ]
    names = ", ".join(name for name, _ in query) or "một số hoặc ngày / a number or a date"
    return _body(
        422,
        "value_out_of_range",
        f"Giá trị vượt quá giới hạn / Value out of range: {names} (tối đa / at most {limit})",
        fields,
    )


NUL_MESSAGE = "Văn bản chứa ký tự NUL (\\x00) / the text contains a NUL character (\\x00)"


def _database_down(status: Trouble) -> JSONResponse:
    if status == "unavailable":
        return _body(
            503,
            "database_unavailable",
            "Cơ sở dữ liệu không trả lời; hãy thử lại sau ít phút / "
            "The database does not answer; try again in a few minutes",
            retry_after=RETRY_UNAVAILABLE_SECONDS,
        )
    return _body(
        503,
        "database_busy",
        "Cơ sở dữ liệu đang bận; hãy thử lại sau giây lát / "
        "The database is busy; try again in a moment",
        retry_after=RETRY_BUSY_SECONDS,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render domain, storage, validation and unexpected errors as JSON, never a trace."""

    @app.exception_handler(LienthongError)
    async def _domain(_: Request, exc: LienthongError) -> JSONResponse:
        retry = exc.retry_after if isinstance(exc, RateLimitedError) else None
        return _body(exc.http_status, exc.code, exc.message, exc.details, retry_after=retry)

    @app.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
        if isinstance(exc, DatabaseUnavailableError):
            log.warning("database unavailable: %s", exc.message)
            return _body(
                exc.http_status, exc.code, exc.message, retry_after=RETRY_UNAVAILABLE_SECONDS
            )
        return _body(exc.http_status, exc.code, exc.message)

    @app.exception_handler(SigningError)
    async def _signing(_: Request, exc: SigningError) -> JSONResponse:
        return _body(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return _body(
            409,
            "concurrent_update",
            "Dữ liệu vừa được người khác thay đổi; hãy tải lại / "
            "Someone else changed this just now; reload and try again",
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        trouble = _classify(exc)
        if trouble is None:
            raise exc  # a bug, e.g. a constraint violation: the catch-all logs it, 500
        if trouble == "out_of_range":
            log.info("number out of range in %s %s: %s", request.method, request.url.path, exc)
            return _out_of_range(request)
        if trouble == "nul_character":
            return _body(422, "invalid_character", NUL_MESSAGE)
        if trouble == "duplicate":
            # A service should have said which key: worth a look, but the client did nothing wrong.
            log.warning("unique violation in %s %s: %s", request.method, request.url.path, exc)
            return _body(
                409,
                "conflict",
                "Dữ liệu này vừa được tạo (có thể bởi một yêu cầu khác cùng lúc); hãy tải lại / "
                "This was just created (perhaps by another request at the same time); reload",
            )
        log.warning("database %s: %s", trouble, exc)
        return _database_down(trouble)

    for kind in _DB_ERRORS:
        app.add_exception_handler(kind, _database)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [_validation_field(e) for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _body(
            422, "invalid_input", f"Dữ liệu không hợp lệ / Invalid input: {summary}", fields
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer when the body cannot be decoded at all (nested too deep, say).
            return _body(
                400,
                "malformed_body",
                "Không đọc được nội dung yêu cầu (JSON lồng quá sâu hoặc hỏng) / the request body "
                "cannot be read (JSON nested too deep, or broken)",
            )
        code = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}.get(
            exc.status_code, "http_error"
        )
        detail = str(exc.detail)
        if " / " not in detail:  # the framework's own English sentence: say it in both
            detail = f"{_VI_STATUS.get(exc.status_code, 'Yêu cầu không hợp lệ')} / {detail}"
        return _body(exc.status_code, code, detail)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _body(500, "internal_error", "Lỗi hệ thống, đã ghi nhật ký / Internal error, logged")


_VI_STATUS: dict[int, str] = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa đăng nhập",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    406: "Không trả được định dạng yêu cầu",
    413: "Yêu cầu quá lớn",
    415: "Kiểu nội dung không được hỗ trợ",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses."""
    schema = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["error", "detail"],
    }
    return {
        s: {"description": "Error", "content": {"application/json": {"schema": schema}}}
        for s in statuses
    }
