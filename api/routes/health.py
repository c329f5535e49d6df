"""`GET /healthz`: 200 when the database and the object store answer, 503 naming what fails."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storage.db import ping
from storage.errors import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness of the database and object store")
def healthz(request: Request) -> JSONResponse:
    """Check each part; 503 with the failing parts and why."""
    state = request.app.state.lienthong
    failures: dict[str, str] = {}
    for part, check in (
        ("database", lambda: ping(state.engine)),
        ("object_store", state.objects.ping),
    ):
        try:
            check()
        except StorageError as e:
            failures[part] = e.message
    if failures:
        return JSONResponse({"status": "unavailable", "failing": failures}, status_code=503)
    return JSONResponse({"status": "ok"})
