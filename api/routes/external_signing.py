"""Two-step signing with the official's own device: prepare, then embed the signature value."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import CurrentUser, ObjectStoreDep, SessionDep
from api.errors import error_responses
from api.schemas import Input
from engine.errors import InvalidInputError
from engine.external_signing import (
    ExternalRequest,
    finish_signing,
    get_request,
    start_signing,
)
from engine.files import FileView

router = APIRouter(prefix="/api/v1/signatures/external", tags=["signatures"])


class StartIn(Input):
    file_id: str = Field(min_length=1, max_length=36)
    certificate_pem: str = Field(
        min_length=1, max_length=100_000, description="Signer's certificate, then its CA chain"
    )
    reason: str | None = Field(default=None, max_length=200)


class FinishIn(Input):
    signature_value: str = Field(
        min_length=1, max_length=20_000, description="Base64 signature over `to_sign`"
    )


class RequestOut(BaseModel):
    id: str
    file_id: str
    state: str
    digest_algorithm: str
    to_sign: str = Field(description="Base64 DER signed attributes: what the device signs")
    digest: str = Field(description="Base64 SHA-256 of to_sign, for devices that sign a hash")
    expires_at: datetime
    result_file_id: str | None


def _out(r: ExternalRequest) -> RequestOut:
    return RequestOut(
        id=r.id,
        file_id=r.file_id,
        state=r.state,
        digest_algorithm=r.digest_algorithm,
        to_sign=base64.b64encode(r.to_sign).decode(),
        digest=base64.b64encode(r.digest).decode(),
        expires_at=r.expires_at,
        result_file_id=r.result_file_id,
    )


@router.post(
    "",
    response_model=RequestOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def start(
    body: StartIn, session: SessionDep, user: CurrentUser, store: ObjectStoreDep
) -> RequestOut:
    """Prepare a signature of a stored PDF by my device; sign `to_sign`, then finish."""
    return _out(
        start_signing(session, store, user, body.file_id, body.certificate_pem, reason=body.reason)
    )


@router.get("/{request_id}", response_model=RequestOut, responses=error_responses(401, 404))
def show(request_id: str, session: SessionDep, user: CurrentUser) -> RequestOut:
    """One of my signing requests (it survives a server restart)."""
    return _out(get_request(session, user, request_id))


@router.post(
    "/{request_id}",
    response_model=FileView,
    status_code=201,
    responses=error_responses(401, 404, 409, 422),
)
def finish(
    request_id: str,
    body: FinishIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    store: ObjectStoreDep,
) -> FileView:
    """Embed my device's signature value; the signed PDF is the file's next version."""
    try:
        value = base64.b64decode(body.signature_value, validate=True)
    except binascii.Error:
        raise InvalidInputError(
            "signature_value phải là base64 / signature_value must be base64",
            details=[{"field": "signature_value", "message": "base64"}],
        ) from None
    tmp = request.app.state.lienthong.settings.tmp_dir
    return finish_signing(session, store, user, request_id, value, tmp_dir=tmp)
