"""Files: upload (multipart), download (verified stream), versions, links, soft delete, purge."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import AppState, CurrentUser, SessionDep, require_roles
from api.errors import error_responses
from api.schemas import Input
from engine import audit
from engine.dossiers.reading import dossier_for
from engine.errors import AuthenticationError
from engine.files import (
    FileDeletedError,
    FileTooLargeError,
    FileView,
    IntegrityError,
    PurgeView,
    Spooled,
    dossier_files_of,
    file_for_reading,
    file_versions,
    no_such_file,
    purge_file,
    release_purged,
    soft_delete,
    spool,
    store_file,
    verified_chunks,
)
from engine.principal import Principal
from storage.models import StoredFile
from storage.names import content_disposition

router = APIRouter(prefix="/api/v1/files", tags=["files"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]
_VERIFY_IN_MEMORY = 4 * 1024 * 1024


# The engine's frozen dataclasses are the response schemas; FastAPI documents them as is.
FileOut = FileView
PurgeOut = PurgeView


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


class DeleteIn(Input):
    reason: str = Field(min_length=1, max_length=2000)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.lienthong
    return state


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    while chunk := upload.file.read(256 * 1024):
        yield chunk


@contextmanager
def spooled_upload(request: Request, file: UploadFile) -> Iterator[Spooled]:
    """The upload spooled to a temporary file within the size limit (413 beyond it)."""
    state = _state(request)
    limit = state.settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise FileTooLargeError(
            f"Tệp vượt quá giới hạn {state.settings.max_upload_mb} MB / the file is larger than "
            f"the {state.settings.max_upload_mb} MB limit"
        )
    spooled = spool(_chunks(file), limit=limit, tmp_dir=state.settings.tmp_dir)
    try:
        yield spooled
    finally:
        spooled.path.unlink(missing_ok=True)


def _receive(
    request: Request, session: SessionDep, user: Principal, file: UploadFile, **kwargs: Any
) -> FileOut:
    with spooled_upload(request, file) as spooled:
        return store_file(session, _state(request).objects, spooled, file.filename, user, **kwargs)


@router.post(
    "",
    response_model=FileOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
def upload(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="The file")],
    previous_id: Annotated[
        str | None, Form(max_length=64, description="Make this a new version of that file")
    ] = None,
    record_class: Annotated[
        str | None, Form(max_length=32, description="Archive with this retention class")
    ] = None,
    secrecy: Annotated[int, Form(ge=0, le=3)] = 0,
) -> FileOut:
    """Store a file; its type is sniffed from the content and its name sanitised."""
    return _receive(
        request,
        session,
        user,
        file,
        previous_id=previous_id,
        record_class=record_class or None,
        secrecy=secrecy,
    )


dossier_files = APIRouter(prefix="/api/v1/dossiers", tags=["dossiers"])


@dossier_files.post(
    "/{code}/files",
    response_model=FileOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 413, 422),
)
def attach(
    code: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="The document")],
) -> FileOut:
    """Attach a file to a dossier; it follows the dossier's agencies for access."""
    dossier = dossier_for(session, user, code)
    return _receive(
        request,
        session,
        user,
        file,
        owner=("dossier", dossier.code),
        agency_id=dossier.receiving_agency_id,
    )


@dossier_files.get(
    "/{code}/files", response_model=list[FileOut], responses=error_responses(401, 403, 404)
)
def attached(code: str, session: SessionDep, user: CurrentUser) -> list[FileOut]:
    """The dossier's files (latest versions, deleted ones hidden)."""
    dossier_for(session, user, code)
    return dossier_files_of(session, code, user)


def _download(state: AppState, session: Session, row: StoredFile, request: Request) -> Response:
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": content_disposition(row.name),
        "Cache-Control": "private, max-age=0",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    file_id = row.id
    if row.size <= _VERIFY_IN_MEMORY:
        # Small files are checked whole before a byte is sent; the event goes into this
        # request's own transaction (on SQLite a second one would wait for our lock).
        mismatch: list[str] = []
        try:
            body = b"".join(verified_chunks(state.objects, row, mismatch.append))
        except IntegrityError as e:
            audit.record(session, None, "integrity_error", "file", file_id, {"message": e.message})
            return JSONResponse({"error": e.code, "detail": e.message}, status_code=e.http_status)
        return Response(body, media_type=row.media_type, headers=headers)

    def on_mismatch(message: str) -> None:
        # Streaming: the request's transaction has committed by now, so a new one is free.
        with state.sessions.begin() as s:
            audit.record(s, None, "integrity_error", "file", file_id, {"message": message})

    chunks = verified_chunks(state.objects, row, on_mismatch)
    headers["Content-Length"] = str(row.size)
    return StreamingResponse(chunks, media_type=row.media_type, headers=headers)


@router.get(
    "/{file_id}", responses=error_responses(401, 403, 404, 410, 502), response_class=Response
)
def download(file_id: str, request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The file's bytes, checked against its SHA-256 on the way out."""
    row = file_for_reading(session, file_id, user)
    session.expunge(row)
    return _download(_state(request), session, row, request)


@router.get(
    "/{file_id}/versions", response_model=list[FileOut], responses=error_responses(401, 403, 404)
)
def versions(file_id: str, session: SessionDep, user: CurrentUser) -> list[FileOut]:
    """Every version of the file, oldest first."""
    return file_versions(session, file_id, user)


def _signature(secret: str, file_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()


@router.get("/{file_id}/link", response_model=LinkOut, responses=error_responses(401, 403, 404))
def link(file_id: str, request: Request, session: SessionDep, user: CurrentUser) -> LinkOut:
    """A short-lived download link signed by this server: no login needed to follow it."""
    state = _state(request)
    row = file_for_reading(session, file_id, user)
    # Signed here, not presigned by S3: a download through this server checks the SHA-256
    # on the way out and stops once the file is deleted; S3 would serve corrupt bytes and
    # keep serving a deleted file until the link expired.
    expires = int(time.time()) + state.settings.link_ttl_seconds
    sig = _signature(state.settings.secret_key, row.id, expires)
    url = str(
        request.url_for("download_signed", file_id=row.id).include_query_params(
            expires=expires, sig=sig
        )
    )
    audit.record(session, user.user_id, "link", "file", file_id)
    return LinkOut(url=url, expires_at=datetime.fromtimestamp(expires, UTC))


@router.get(
    "/{file_id}/download",
    name="download_signed",
    response_class=Response,
    responses=error_responses(401, 404, 410, 502),
)
def download_signed(
    file_id: str,
    request: Request,
    session: SessionDep,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=128)],
) -> Response:
    """Download through a signed link; no login, the signature and expiry are the permission."""
    state = _state(request)
    good = _signature(state.settings.secret_key, file_id, expires)
    if not hmac.compare_digest(good, sig) or expires < time.time():
        raise AuthenticationError(
            "Liên kết không hợp lệ hoặc đã hết hạn / the link is invalid or expired",
            code="bad_link",
        )
    row = session.get(StoredFile, file_id)
    if row is None or row.purged_at is not None:
        raise no_such_file(file_id)
    if row.deleted_at is not None:
        # Signed before the delete, refused after it, as the logged-in download is.
        raise FileDeletedError(
            f"Tệp {file_id} đã bị xoá ({row.delete_reason}) / file {file_id} was deleted: "
            f"{row.delete_reason}"
        )
    session.expunge(row)
    return _download(state, session, row, request)


@router.delete(
    "/{file_id}", response_model=FileOut, responses=error_responses(401, 403, 404, 409, 422)
)
def delete(file_id: str, body: DeleteIn, session: SessionDep, user: CurrentUser) -> FileOut:
    """Soft-delete: the file is hidden but kept, with who, when and why."""
    return soft_delete(session, file_id, user, body.reason)


@router.post(
    "/{file_id}/purge", response_model=PurgeOut, responses=error_responses(401, 403, 404, 409)
)
def purge(file_id: str, request: Request, session: SessionDep, user: Admin) -> PurgeOut:
    """Admin: remove a soft-deleted file for good, unless its retention forbids it; the
    answer says whether its bytes went, stay shared, or are left to `storage sweep`."""
    state = _state(request)
    grace = timedelta(seconds=state.settings.purge_grace_seconds)
    purged = purge_file(session, file_id, user, grace=grace)
    # The bytes may go only once the row change is durable: a failed commit keeps both.
    session.commit()
    return release_purged(state.sessions, state.objects, purged)
