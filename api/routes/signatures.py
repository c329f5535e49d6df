"""Signature validation for any uploaded PDF, and the admins' trust store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile

from api.deps import CurrentUser, SessionDep
from api.errors import error_responses
from engine.signatures import (
    TrustedView,
    add_trusted,
    list_trusted,
    remove_trusted,
    summarise,
    trust_settings,
)
from signing.sandbox import validate_untrusted

router = APIRouter(prefix="/api/v1", tags=["signatures"])
_MAX_PDF = 100 * 1024 * 1024


@router.post("/signatures/verify", responses=error_responses(401, 413, 422))
async def verify(
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="A signed PDF")],
) -> dict[str, Any]:
    """Validate every signature of the PDF (in a sandbox, ≤ 3 s) against the trust store."""
    data = await file.read(_MAX_PDF + 1)
    if len(data) > _MAX_PDF:
        from engine.errors import FileTooLargeError

        raise FileTooLargeError("PDF quá lớn (100 MB) / the PDF is larger than 100 MB")
    report = validate_untrusted(data, trust_settings(session))
    return summarise(file.filename or "upload.pdf", report)


@router.get("/admin/trust", response_model=list[TrustedView], responses=error_responses(401))
def trusted(session: SessionDep, user: CurrentUser) -> list[TrustedView]:
    """The CA certificates signatures are validated against."""
    return list_trusted(session)


@router.post(
    "/admin/trust",
    response_model=list[TrustedView],
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def trust(
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="CA certificate(s), PEM or DER")],
) -> list[TrustedView]:
    """Admin: trust a root or intermediate CA (e.g. the Vietnamese national root CA)."""
    return add_trusted(session, await file.read(1_000_000), user)


@router.delete("/admin/trust/{cert_id}", status_code=204, responses=error_responses(401, 403, 404))
def untrust(cert_id: int, session: SessionDep, user: CurrentUser) -> Response:
    """Admin: stop trusting a CA."""
    remove_trusted(session, cert_id, user)
    return Response(status_code=204)
