"""Sign a stored PDF with a configured key: the signed document becomes the file's next version.

The competent official signs with their own key first; the agency's clerk then applies the
agency's seal key (Decree 30/2020, Điều 13.7, 33; see `engine.appearances`). The stored
object of the signed version is new and links to the version it signs; nothing is
overwritten. Keys stay loaded between requests (`engine.signing_secrets`), so a signature
costs the parse and the incremental write of the PDF, not a key load.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.appearances import seal_over_last_signer, signer_block, text_stamp
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.files import (
    FileView,
    file_for_reading,
    spool,
    store_file,
    store_system_file,
    verified_chunks,
)
from engine.principal import Principal
from engine.signatures import trust_settings
from engine.signing_keys import (
    KeyOwner,
    SigningConfig,
    active_key,
    agency_seal_key,
    check_module_allowed,
)
from engine.signing_secrets import LoadedKey, loaded_key
from signing.appearance import Appearance
from signing.errors import SigningError
from signing.pades import PadesLevel, PadesSigner, SignatureDetails
from storage.models import SigningKey as KeyRow
from storage.models import StoredFile, User, utcnow
from storage.objects import ObjectStore

__all__ = ["Look", "seal_pdf", "seal_stored_file", "sign_stored_file"]

log = logging.getLogger("lienthong.signing")

Look = Literal["none", "signer", "seal", "text"]
_PDF = "application/pdf"


def _key_for(session: Session, principal: Principal, which: KeyOwner) -> KeyRow:
    if which == "agency" and not principal.has_role("clerk"):
        raise PermissionDeniedError(
            "Chỉ văn thư của cơ quan được ký bằng khóa con dấu của cơ quan / only the agency's "
            "clerks (văn thư) may sign with its seal key",
            code="role_required",
        )
    row = active_key(session, principal, which)
    if row is None:
        raise ConflictError(
            "Chưa cấu hình khóa ký số "
            + (
                "của bạn; hãy đăng ký tại /api/v1/me/signing-key / You have no signing key; "
                "register one at /api/v1/me/signing-key"
                if which == "own"
                else "con dấu cho cơ quan của bạn; hãy nhờ quản trị viên / Your agency has no "
                "seal key; ask an administrator to register it"
            ),
            code="no_signing_key",
        )
    if row.not_after <= utcnow():
        raise ConflictError(
            f"Chứng thư số của khóa đã hết hạn ngày {row.not_after:%d/%m/%Y}; hãy đăng ký khóa "
            f"mới / The key's certificate expired on {row.not_after.date()}; register a new key",
            code="certificate_expired",
        )
    return row


def _check_look(row: KeyRow, which: KeyOwner, look: Look, text: str | None) -> None:
    if text and look != "text":
        raise InvalidInputError(
            "Nội dung 'text' chỉ dùng với hình thức 'text' / 'text' goes with appearance 'text'",
            details=[{"field": "text", "message": "only with appearance 'text'"}],
        )
    wanted = {"signer": "own", "seal": "agency"}.get(look)
    if wanted is not None and which != wanted:
        raise InvalidInputError(
            f"Hình thức '{look}' dùng với khóa '{wanted}' / appearance '{look}' goes with key "
            f"'{wanted}' (signer: the official's own key; seal: the agency's seal key)",
            details=[{"field": "appearance", "message": f"needs key '{wanted}'"}],
        )
    if wanted is not None and row.image_file_id is None:
        raise ConflictError(
            "Khóa chưa có ảnh chữ ký/con dấu; hãy đăng ký lại kèm ảnh PNG / The key has no "
            "signature or seal image; register it again with a PNG image",
            code="key_has_no_image",
        )


def _read_pdf(session: Session, store: ObjectStore, row: StoredFile, limit: int) -> bytes:
    if row.media_type != _PDF:
        raise InvalidInputError(
            f"Chỉ ký được tệp PDF; tệp này là {row.media_type} / only PDF files can be signed; "
            f"this one is {row.media_type}",
            code="not_a_pdf",
        )
    if row.size > limit:
        raise InvalidInputError(
            f"PDF quá lớn để ký ({limit // (1024 * 1024)} MB) / the PDF is too large to sign",
            code="pdf_too_large",
        )
    newer = session.scalar(
        select(StoredFile.id).where(
            StoredFile.previous_id == row.id, StoredFile.purged_at.is_(None)
        )
    )
    if newer is not None:
        raise ConflictError(
            f"Tệp đã có phiên bản mới hơn ({newer}); hãy ký phiên bản mới nhất / the file has a "
            f"newer version ({newer}); sign the latest one",
            code="not_latest_version",
        )
    return b"".join(verified_chunks(store, row, lambda _message: None))


def _image_of(session: Session, store: ObjectStore, key: KeyRow) -> bytes | None:
    if key.image_file_id is None:
        return None
    image = session.get(StoredFile, key.image_file_id)
    if image is None:
        return None
    return b"".join(verified_chunks(store, image, lambda _message: None))


def _appearance(
    session: Session,
    principal: Principal | None,
    look: Look,
    pdf: bytes,
    loaded: LoadedKey,
    text: str | None,
) -> Appearance | None:
    if look == "text":
        return text_stamp(text)
    if look == "signer" and loaded.image is not None and principal is not None:
        user = session.get(User, principal.user_id)
        title = (user.position if user else None) or ""
        return signer_block(pdf, loaded.image, title=title, full_name=principal.full_name)
    if look == "seal" and loaded.image is not None:
        return seal_over_last_signer(pdf, loaded.image)
    return None


def _signer(
    session: Session, loaded: LoadedKey, level: PadesLevel, config: SigningConfig
) -> PadesSigner:
    if level.timestamped and not config.tsa_url:
        raise ConflictError(
            f"Máy chủ chưa cấu hình dịch vụ cấp dấu thời gian (TSA) nên không ký được mức "
            f"{level}; hãy ký mức B-B hoặc nhờ quản trị viên / The server has no timestamp "
            f"authority (TSA) configured, so level {level} is unavailable; sign B-B or ask an "
            "administrator",
            code="tsa_not_configured",
        )
    trust = replace(trust_settings(session), fetch=True) if level.long_term else None
    return PadesSigner(loaded.key, level, tsa_url=config.tsa_url, trust=trust)


def sign_stored_file(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    file_id: str,
    principal: Principal,
    *,
    key: KeyOwner = "own",
    appearance: Look = "none",
    level: str = "B-B",
    reason: str | None = None,
    location: str | None = None,
    text: str | None = None,
) -> FileView:
    """Sign the stored PDF with the caller's own key or the agency's seal key.

    Returns the new version (a new object, linked to the signed one), audit-logged.
    Raises NotFoundError/PermissionDeniedError/FileDeletedError for a file the caller cannot
    see, PermissionDeniedError (seal key without the clerk role), ConflictError (no key, an
    expired certificate, stored secrets that no longer open the key, no TSA for B-T and up,
    a newer version exists), InvalidInputError (not a PDF, a bad combination), and the
    signing errors (MalformedPdfError, AppearanceError, TokenError, TimestampError …).
    """
    try:
        pades = PadesLevel(level)
    except ValueError:
        raise InvalidInputError(
            f"Mức chữ ký '{level}' không hợp lệ / unknown PAdES level '{level}'",
            details=[{"field": "level", "message": "one of B-B, B-T, B-LT, B-LTA"}],
        ) from None
    row = file_for_reading(session, file_id, principal)
    key_row = _key_for(session, principal, key)
    _check_look(key_row, key, appearance, text)
    session.refresh(row, with_for_update=True)  # PostgreSQL: one signer of a version at a time
    pdf = _read_pdf(session, store, row, config.max_pdf_bytes)
    signed = _sign(
        session, store, config, key_row, principal, pdf, pades, appearance, reason, location, text
    )
    upload = spool([signed], limit=len(signed) + 1, tmp_dir=config.tmp_dir)
    try:
        view = store_file(
            session, store, upload, row.name, principal,
            previous_id=row.id, record_class=row.record_class,
        )  # fmt: skip
    finally:
        upload.path.unlink(missing_ok=True)
    audit.record(
        session, principal.user_id, "sign", "file", view.id,
        {"previous_id": row.id, "key_id": key_row.id, "key": key, "level": str(pades),
         "appearance": appearance, "subject": key_row.subject},
    )  # fmt: skip
    log.info(
        "file %s signed as %s (key %s, %s, %s)", row.id, view.id, key_row.id, pades, appearance
    )
    return view


def _sign(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    key_row: KeyRow,
    principal: Principal | None,
    pdf: bytes,
    level: PadesLevel,
    look: Look,
    reason: str | None,
    location: str | None,
    text: str | None,
) -> bytes:
    check_module_allowed(key_row, config.pkcs11_modules)
    for _ in range(3):  # an entry closed under us (key replaced meanwhile): load again
        loaded = loaded_key(key_row, config.box, lambda: _image_of(session, store, key_row))
        details = SignatureDetails(
            reason=reason or None,
            location=location or None,
            appearance=_appearance(session, principal, look, pdf, loaded, text),
        )
        signer = _signer(session, loaded, level, config)
        with loaded.lock:
            if loaded.closed:
                continue
            return signer.sign(pdf, details)
    raise SigningError(
        "Khóa ký số vừa được thay; hãy thử lại / the signing key was just replaced; try again",
        code="signing_key_replaced",
    )


def seal_pdf(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    principal: Principal,
    agency_id: int,
    pdf: bytes,
    text: str,
) -> bytes:
    """The PDF with the agency's digital signature (text stamp, top right of page 1) when
    the agency has a seal key; unchanged otherwise. For documents the server makes itself
    (the one-stop slips)."""
    row = agency_seal_key(session, agency_id)
    if row is None:
        return pdf
    return _sign(
        session, store, config, row, principal, pdf, PadesLevel.B_B, "text", None, None, text
    )


def seal_stored_file(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    agency_id: int,
    file_id: str,
    text: str,
) -> FileView:
    """The agency's seal signature (text stamp) on a stored PDF, as its next version: for
    processes (the BPMN `sign` service task), which act for the agency, not for a user.

    Raises NotFoundError, ConflictError (no seal key, a newer version exists),
    InvalidInputError (not a PDF).
    """
    row = session.get(StoredFile, file_id)
    if row is None or row.deleted_at is not None or row.purged_at is not None:
        raise NotFoundError(f"Không có tệp {file_id} / No file {file_id}", code="file_not_found")
    key = agency_seal_key(session, agency_id)
    if key is None:
        raise ConflictError(
            "Cơ quan chưa có khóa ký số (dấu) / the agency has no seal key configured",
            code="no_seal_key",
        )
    pdf = _read_pdf(session, store, row, config.max_pdf_bytes)
    signed = _sign(session, store, config, key, None, pdf, PadesLevel.B_B, "text", None, None, text)
    upload = spool([signed], limit=len(signed) + 1, tmp_dir=config.tmp_dir)
    try:
        view = store_system_file(
            session,
            store,
            upload,
            row.name,
            agency_id=row.agency_id,
            owner=None,
            secrecy=row.secrecy,
            previous=row,
        )
    finally:
        upload.path.unlink(missing_ok=True)
    audit.record(session, None, "seal", "file", view.id, {"previous_id": row.id, "key_id": key.id})
    return view
