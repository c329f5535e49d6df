"""One renderer for every error: `{"error": code, "detail": message, "fields": [...]}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import LienthongError
from signing.errors import SigningError
from storage.errors import StorageError

__all__ = ["error_responses", "install_error_handlers"]

log = logging.getLogger("lienthong.api")


def _body(status: int, code: str, detail: str, fields: Any = None) -> JSONResponse:
    content: dict[str, Any] = {"error": code, "detail": detail}
    if fields:
        content["fields"] = fields
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(content, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Render domain, storage, validation and unexpected errors as JSON, never a trace."""

    @app.exception_handler(LienthongError)
    async def _domain(_: Request, exc: LienthongError) -> JSONResponse:
        return _body(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(StorageError)
    async def _storage(_: Request, exc: StorageError) -> JSONResponse:
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

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": _field_name(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _body(
            422, "invalid_input", f"Dữ liệu không hợp lệ / Invalid input: {summary}", fields
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}.get(
            exc.status_code, "http_error"
        )
        return _body(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _body(500, "internal_error", "Lỗi hệ thống, đã ghi nhật ký / Internal error, logged")


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
