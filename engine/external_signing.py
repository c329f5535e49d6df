"""Two-step signing of a stored PDF with a device the server never holds.

Step 1 reserves the signature and gives the official the bytes their USB token or remote
signing service must sign; step 2 takes the signature value, embeds it, checks the result
and stores it as the file's next version. Between the two, everything lives in the
database and the object store, so a restart loses nothing.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.files import (
    FileView,
    file_for_reading,
    latest_version,
    spool,
    store_file,
    verified_chunks,
)
from engine.principal import Principal
from engine.signatures import trust_settings
from signing.external import PreparedSignature, finish_external, prepare_external
from signing.validate import validate_pdf
from storage.models import ExternalSigning, StoredFile, utcnow
from storage.objects import ObjectStore, key_for

__all__ = ["ExternalRequest", "finish_signing", "get_request", "start_signing"]

DEFAULT_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class ExternalRequest:
    id: str
    file_id: str
    state: str
    digest_algorithm: str
    to_sign: bytes
    digest: bytes
    expires_at: datetime
    result_file_id: str | None


def _certificates(pem: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as e:
        raise InvalidInputError(
            "Chứng thư số không đọc được (cần PEM: chứng thư người ký, rồi chuỗi CA) / the "
            "certificate is not PEM (the signer's, then its CA chain)",
            details=[{"field": "certificate_pem", "message": "PEM"}],
        ) from e
    now = utcnow()
    if not certs[0].not_valid_before_utc <= now <= certs[0].not_valid_after_utc:
        raise InvalidInputError(
            "Chứng thư số đã hết hạn hoặc chưa có hiệu lực / the certificate is not valid now",
            details=[{"field": "certificate_pem", "message": "not valid now"}],
            code="certificate_not_valid_now",
        )
    return certs


def _view(row: ExternalSigning) -> ExternalRequest:
    return ExternalRequest(
        id=row.id,
        file_id=row.file_id,
        state=row.state,
        digest_algorithm="sha256",
        to_sign=row.signed_attrs,
        digest=hashlib.sha256(row.signed_attrs).digest(),
        expires_at=row.expires_at,
        result_file_id=row.result_file_id,
    )


def _pdf_of(session: Session, store: ObjectStore, row: StoredFile) -> bytes:
    if row.media_type != "application/pdf":
        raise InvalidInputError(
            "Chỉ ký được tệp PDF / only PDF files can be signed",
            details=[{"field": "file_id", "message": "not a PDF"}],
            code="not_a_pdf",
        )
    if latest_version(session, row.root_id) is not row:
        raise ConflictError(
            "Tệp đã có phiên bản mới hơn; hãy ký phiên bản mới nhất / a newer version of the "
            "file exists; sign the latest one",
            code="not_latest_version",
        )
    return b"".join(verified_chunks(store, row, lambda _message: None))


def start_signing(
    session: Session,
    store: ObjectStore,
    principal: Principal,
    file_id: str,
    certificate_pem: str,
    *,
    reason: str | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> ExternalRequest:
    """Step 1: reserve the signature and return what the device must sign.

    Raises NotFoundError/PermissionDeniedError (file), InvalidInputError (not a PDF, bad or
    expired certificate), ConflictError (not the latest version).
    """
    row = file_for_reading(session, file_id, principal)
    certs = _certificates(certificate_pem)
    prepared = prepare_external(
        _pdf_of(session, store, row), certs[0], tuple(certs[1:]), reason=reason
    )
    key = key_for(hashlib.sha256(prepared.pdf).hexdigest())
    store.put(key, io.BytesIO(prepared.pdf), len(prepared.pdf), content_type="application/pdf")
    request = ExternalSigning(
        id=str(uuid.uuid4()),
        file_id=row.id,
        user_id=principal.user_id,
        prepared_key=key,
        document_digest=prepared.document_digest,
        region_start=prepared.region_start,
        region_end=prepared.region_end,
        signed_attrs=prepared.signed_attrs,
        field_name=prepared.field_name,
        certificates_pem=certificate_pem,
        expires_at=utcnow() + ttl,
    )
    session.add(request)
    session.flush()
    audit.record(session, principal.user_id, "external_sign_start", "file", row.id)
    return _view(request)


def _request(
    session: Session, principal: Principal, request_id: str, *, lock: bool = False
) -> ExternalSigning:
    # Locked when finishing: two finishes of one request run one after the other.
    row = session.get(ExternalSigning, request_id, with_for_update=lock)
    if row is None or row.user_id != principal.user_id:
        raise NotFoundError(
            f"Không có yêu cầu ký {request_id} / No signing request {request_id}",
            code="signing_request_not_found",
        )
    return row


def get_request(session: Session, principal: Principal, request_id: str) -> ExternalRequest:
    """A signing request of the principal's; NotFoundError for anyone else's."""
    return _view(_request(session, principal, request_id))


def finish_signing(
    session: Session,
    store: ObjectStore,
    principal: Principal,
    request_id: str,
    signature_value: bytes,
    *,
    tmp_dir: Path,
) -> FileView:
    """Step 2: embed the device's signature value; the signed PDF is the file's next version.

    Raises NotFoundError, ConflictError (already finished, expired, the file changed
    meanwhile), InvalidInputError (the value does not verify: the request stays open).
    """
    row = _request(session, principal, request_id, lock=True)
    if row.state != "waiting":
        raise ConflictError(
            f"Yêu cầu ký {request_id} đã xong / signing request {request_id} is finished",
            code="signing_request_closed",
        )
    if row.expires_at < utcnow():
        raise ConflictError(
            f"Yêu cầu ký {request_id} đã hết hạn; hãy tạo yêu cầu mới / signing request "
            f"{request_id} expired; start a new one",
            code="signing_request_expired",
        )
    source = session.get(StoredFile, row.file_id, with_for_update=True)
    assert source is not None
    if latest_version(session, source.root_id) is not source:
        raise ConflictError(
            "Tệp đã có phiên bản mới hơn từ khi chuẩn bị ký / the file got a newer version since "
            "the signature was prepared",
            code="not_latest_version",
        )
    certs = _certificates(row.certificates_pem)
    prepared_pdf = b"".join(store.open(row.prepared_key))
    if hashlib.sha256(prepared_pdf).hexdigest() != row.prepared_key.rsplit("/", 1)[-1]:
        raise ConflictError("Bản chuẩn bị ký bị hỏng / the prepared document is damaged")
    prepared = PreparedSignature(
        prepared_pdf,
        row.document_digest,
        row.region_start,
        row.region_end,
        row.signed_attrs,
        row.field_name,
    )
    signed = finish_external(prepared, signature_value, certs[0], tuple(certs[1:]))
    report = validate_pdf(signed, trust_settings(session))
    last = report.signatures[-1] if report.signatures else None
    if last is None or not (last.intact and last.valid):
        raise InvalidInputError(
            "Giá trị chữ ký không khớp với chứng thư và dữ liệu cần ký / the signature value "
            "does not verify against the certificate and the signed data",
            details=[{"field": "signature_value", "message": "does not verify"}],
            code="signature_value_invalid",
        )
    upload = spool([signed], limit=len(signed) + 1, tmp_dir=tmp_dir)
    try:
        view = store_file(session, store, upload, source.name, principal, previous_id=source.id)
    finally:
        upload.path.unlink(missing_ok=True)
    row.state, row.result_file_id = "done", view.id
    audit.record(session, principal.user_id, "external_sign_finish", "file", view.id)
    return view
