"""Configured signing keys: agency seal keys (set by admins) and officials' own keys.

An agency's seal key is used by the clerks (văn thư) of that agency; an official's own key
only by that official. Each owner has at most one active key: registering a new one revokes
the previous. Registering loads the key once — a wrong password or PIN, a file that is not
PKCS#12, a token that cannot be reached or a certificate not valid now is refused there —
and keeps it loaded for signing (see `engine.signing_secrets`). Signing a stored file is
`engine.signing_files.sign_stored_file`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import get_agency
from engine.appearances import check_image
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.files import spool, store_file
from engine.principal import Principal
from engine.signing_secrets import LoadedKey, SecretBox, forget, owner_context, remember
from signing.keys import SigningKey as LoadedSigningKey
from signing.keys import load_pkcs12, open_pkcs11
from signing.trust import load_certificates
from storage.models import Agency, User, utcnow
from storage.models import SigningKey as KeyRow
from storage.objects import ObjectStore

__all__ = [
    "PKCS11_MODULE_DIRS",
    "KeyOwner",
    "Pkcs11Material",
    "Pkcs12Material",
    "SigningConfig",
    "SigningKeyView",
    "active_key",
    "agency_seal_key",
    "check_module_allowed",
    "list_keys",
    "own_key",
    "register_key",
    "revoke_key",
]

log = logging.getLogger("lienthong.signing")

# A PKCS#11 module is a shared library the server loads: only from system library folders,
# or one of the exact files the admin allows (LIENTHONG_PKCS11_MODULES).
PKCS11_MODULE_DIRS = ("/usr/lib/", "/usr/lib64/", "/usr/local/lib/", "/lib/", "/opt/")
_MAX_IMAGE = 2 * 1024 * 1024

KeyOwner = Literal["own", "agency"]


@dataclass(frozen=True)
class SigningConfig:
    """What signing needs from the server settings (no secret is ever shown in its repr)."""

    secret_key: str = field(repr=False)
    tmp_dir: Path
    tsa_url: str | None = None
    max_pdf_bytes: int = 100 * 1024 * 1024
    # PKCS#11 modules the admin allows outside PKCS11_MODULE_DIRS: absolute file paths.
    pkcs11_modules: tuple[str, ...] = ()

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.secret_key)


@dataclass(frozen=True)
class Pkcs12Material:
    """A .p12/.pfx file and its password."""

    data: bytes = field(repr=False)
    password: str = field(repr=False)


@dataclass(frozen=True)
class Pkcs11Material:
    """A key on a PKCS#11 token; `chain_pem`: CA certificates to send with signatures."""

    module_path: str
    token_label: str
    key_label: str
    pin: str = field(repr=False)
    cert_label: str | None = None
    chain_pem: str | None = None


@dataclass(frozen=True)
class SigningKeyView:
    id: int
    owner: str  # "agency" or "user"
    agency_code: str | None
    username: str | None
    kind: str
    label: str | None
    subject: str
    serial: str
    not_after: datetime
    module_path: str | None
    token_label: str | None
    key_label: str | None
    image_file_id: str | None
    created_at: datetime
    revoked_at: datetime | None


def _view(row: KeyRow, agency_code: str | None, username: str | None) -> SigningKeyView:
    return SigningKeyView(
        id=row.id,
        owner="agency" if row.agency_id is not None else "user",
        agency_code=agency_code,
        username=username,
        kind=row.kind,
        label=row.label,
        subject=row.subject,
        serial=row.serial,
        not_after=row.not_after,
        module_path=row.module_path,
        token_label=row.token_label,
        key_label=row.key_label,
        image_file_id=row.image_file_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _allowed_module(path: str, allowed: tuple[str, ...]) -> str | None:
    """The real path of `path` if it is one of the admin's `allowed` files, else None.

    Both sides are resolved first (symlinks, `..`), and only whole files match: an
    allowed folder allows nothing.
    """
    if not os.path.isabs(path):
        return None
    real = os.path.realpath(path)
    if not os.path.isfile(real):
        return None
    listed = {os.path.realpath(a) for a in allowed if os.path.isabs(a)}
    return real if real in listed else None


def _check_module(path: str, allowed: tuple[str, ...] = ()) -> str:
    """The module path to load: an installed .so under PKCS11_MODULE_DIRS, or a file the
    admin allows (`allowed`, resolved). Raises InvalidInputError otherwise."""
    admitted = _allowed_module(path, allowed)
    if admitted is not None:
        return admitted
    p = Path(path)
    # The file itself must lie in a system folder: a symlink there to elsewhere is refused,
    # and what is stored (and loaded later) is the resolved path.
    real = os.path.realpath(path) if p.is_absolute() else ""
    if not (
        p.is_absolute()
        and path.startswith(PKCS11_MODULE_DIRS)
        and real.startswith(PKCS11_MODULE_DIRS)
        and ".so" in p.name
        and ".." not in p.parts
        and p.is_file()
    ):
        raise InvalidInputError(
            f"Thư viện PKCS#11 '{path}' không dùng được: cần đường dẫn tuyệt đối tới tệp .so đã "
            f"cài trong {', '.join(PKCS11_MODULE_DIRS)}, hoặc quản trị viên thêm đúng tệp đó vào "
            f"LIENTHONG_PKCS11_MODULES / PKCS#11 module '{path}' cannot be used: give the "
            f"absolute path of an installed .so under {', '.join(PKCS11_MODULE_DIRS)}, or have "
            "the admin list that exact file in LIENTHONG_PKCS11_MODULES",
            code="bad_pkcs11_module",
            details=[
                {
                    "field": "module_path",
                    "message": "installed .so in a system folder or in LIENTHONG_PKCS11_MODULES",
                }
            ],
        )
    return real


def check_module_allowed(row: KeyRow, allowed: tuple[str, ...]) -> None:
    """Before a stored PKCS#11 key is used: its module must still be allowed (an admin may
    have removed it from LIENTHONG_PKCS11_MODULES since). Raises ConflictError."""
    if row.kind != "pkcs11" or not row.module_path:
        return
    try:
        _check_module(row.module_path, allowed)
    except InvalidInputError as e:
        raise ConflictError(
            "Thư viện PKCS#11 của khóa này không còn được phép dùng; quản trị viên cần thêm lại "
            "vào LIENTHONG_PKCS11_MODULES hoặc đăng ký khóa khác / the PKCS#11 module of this "
            f"key ({row.module_path}) is no longer allowed; the admin must list it in "
            "LIENTHONG_PKCS11_MODULES again or register another key",
            code="pkcs11_module_not_allowed",
        ) from e


def _load(material: Pkcs12Material | Pkcs11Material) -> LoadedSigningKey:
    """Load the key; a PKCS#11 module path must have passed `_check_module`."""
    if isinstance(material, Pkcs12Material):
        return load_pkcs12(material.data, material.password)
    try:
        chain = load_certificates(material.chain_pem.encode()) if material.chain_pem else []
    except ValueError as e:
        raise InvalidInputError(
            "Chuỗi chứng thư CA không đọc được (PEM) / the CA chain is not PEM certificates",
            details=[{"field": "chain_pem", "message": "PEM certificates"}],
        ) from e
    return open_pkcs11(
        material.module_path,
        token_label=material.token_label,
        key_label=material.key_label,
        cert_label=material.cert_label,
        pin=material.pin,
        chain=chain,
    )


def _fill_secrets(row: KeyRow, material: Pkcs12Material | Pkcs11Material, box: SecretBox) -> None:
    context = owner_context(row)
    if isinstance(material, Pkcs12Material):
        row.kind = "pkcs12"
        row.pkcs12_enc = box.seal(material.data, context, "pkcs12")
        row.password_enc = box.seal(material.password.encode(), context, "password")
        return
    row.kind = "pkcs11"
    row.module_path = material.module_path
    row.token_label = material.token_label
    row.key_label = material.key_label
    row.cert_label = material.cert_label
    row.chain_pem = material.chain_pem
    row.pin_enc = box.seal(material.pin.encode(), context, "pin")


def _owner(
    session: Session, principal: Principal, agency_code: str | None
) -> tuple[Agency | None, int | None]:
    """(agency, None) for an agency seal key — admins only — or (None, user id)."""
    if agency_code is None:
        return None, principal.user_id
    if not principal.is_admin:
        raise PermissionDeniedError(
            "Chỉ quản trị viên đăng ký khóa con dấu của cơ quan / only admins register an "
            "agency's seal key",
            code="admin_required",
        )
    return get_agency(session, agency_code), None


def register_key(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    principal: Principal,
    material: Pkcs12Material | Pkcs11Material,
    *,
    agency_code: str | None = None,
    image: bytes | None = None,
    label: str | None = None,
) -> SigningKeyView:
    """Register the agency's seal key (`agency_code`, admins) or the caller's own key.

    The key is loaded to check it; an image must be a transparent PNG, red for a seal and
    blue for a signature. The owner's previous key is revoked.
    Raises PermissionDeniedError, NotFoundError (agency), InvalidInputError (image, module),
    WrongPasswordError/KeyMaterialError/TokenError/AppearanceError from `signing`.
    """
    agency, user_id = _owner(session, principal, agency_code)
    if image is not None:
        if len(image) > _MAX_IMAGE:
            raise InvalidInputError("Ảnh quá lớn (2 MB) / the image is larger than 2 MB")
        check_image(image, "seal" if agency is not None else "signer")
    if isinstance(material, Pkcs11Material):
        module = _check_module(material.module_path, config.pkcs11_modules)
        material = replace(material, module_path=module)
    key = _load(material)
    try:
        row = _insert(session, config, principal, material, key, agency, user_id, label)
        if image is not None:
            row.image_file_id = _store_image(session, store, config, principal, row, image)
        session.flush()
    except BaseException:
        key.close()
        raise
    audit.record(
        session,
        principal.user_id,
        "signing_key_register",
        "signing_key",
        row.id,
        {"owner": owner_context(row), "kind": row.kind, "subject": row.subject},
    )
    remember(row, LoadedKey(key, image))
    log.info("signing key %s registered for %s (%s)", row.id, owner_context(row), row.kind)
    return _view(row, agency.code if agency else None, None if agency else principal.username)


def _insert(
    session: Session,
    config: SigningConfig,
    principal: Principal,
    material: Pkcs12Material | Pkcs11Material,
    key: LoadedSigningKey,
    agency: Agency | None,
    user_id: int | None,
    label: str | None,
) -> KeyRow:
    for old in _active(session, agency.id if agency else None, user_id):
        _revoke(old, principal)
    cert: x509.Certificate = key.certificate
    row = KeyRow(
        agency_id=agency.id if agency else None,
        user_id=user_id,
        label=(label or "").strip()[:255] or None,
        subject=cert.subject.rfc4514_string()[:500],
        serial=format(cert.serial_number, "x")[:64],
        not_after=cert.not_valid_after_utc,
        created_by=principal.user_id,
        created_at=utcnow(),
        version=1,
    )
    _fill_secrets(row, material, config.box)
    session.add(row)
    session.flush()
    return row


def _store_image(
    session: Session,
    store: ObjectStore,
    config: SigningConfig,
    principal: Principal,
    row: KeyRow,
    image: bytes,
) -> str:
    upload = spool([image], limit=_MAX_IMAGE, tmp_dir=config.tmp_dir)
    try:
        owner_agency = row.agency_id or principal.agency_id
        view = store_file(
            session,
            store,
            upload,
            "con-dau.png" if row.agency_id else "chu-ky.png",
            principal,
            owner=("signing_key", str(row.id)),
            agency_id=owner_agency,
        )
    finally:
        upload.path.unlink(missing_ok=True)
    return view.id


def _active(session: Session, agency_id: int | None, user_id: int | None) -> list[KeyRow]:
    query = select(KeyRow).where(KeyRow.revoked_at.is_(None))
    if agency_id is not None:
        query = query.where(KeyRow.agency_id == agency_id)
    else:
        query = query.where(KeyRow.user_id == user_id)
    return list(session.scalars(query.order_by(KeyRow.id.desc())))


def agency_seal_key(session: Session, agency_id: int) -> KeyRow | None:
    """The agency's active seal key; None if none is set."""
    rows = _active(session, agency_id, None)
    return rows[0] if rows else None


def active_key(session: Session, principal: Principal, which: KeyOwner) -> KeyRow | None:
    """The caller's own key, or the seal key of the caller's agency; None if none is set."""
    if which == "agency":
        return agency_seal_key(session, principal.agency_id)
    rows = _active(session, None, principal.user_id)
    return rows[0] if rows else None


def _revoke(row: KeyRow, principal: Principal) -> None:
    row.revoked_at = utcnow()
    row.revoked_by = principal.user_id
    row.version += 1
    forget(row.id)


def own_key(session: Session, principal: Principal) -> SigningKeyView:
    """The caller's own active key; raises NotFoundError when none is registered."""
    row = active_key(session, principal, "own")
    if row is None:
        raise NotFoundError(
            "Bạn chưa đăng ký khóa ký số; hãy đăng ký tại /api/v1/me/signing-key / You have no "
            "signing key; register one at /api/v1/me/signing-key",
            code="no_signing_key",
        )
    return _view(row, None, principal.username)


def list_keys(
    session: Session,
    principal: Principal,
    *,
    agency_code: str | None = None,
    include_revoked: bool = False,
) -> list[SigningKeyView]:
    """Admins: every key (of one agency with `agency_code`), newest first."""
    if not principal.is_admin:
        raise PermissionDeniedError(
            "Chỉ quản trị viên xem danh sách khóa ký số / admins only", code="admin_required"
        )
    query = (
        select(KeyRow, Agency.code, User.username)
        .outerjoin(Agency, Agency.id == KeyRow.agency_id)
        .outerjoin(User, User.id == KeyRow.user_id)
        .order_by(KeyRow.id.desc())
    )
    if agency_code is not None:
        query = query.where(KeyRow.agency_id == get_agency(session, agency_code).id)
    if not include_revoked:
        query = query.where(KeyRow.revoked_at.is_(None))
    return [_view(row, code, name) for row, code, name in session.execute(query)]


def revoke_key(session: Session, key_id: int, principal: Principal) -> None:
    """Stop using a key: admins any key, an official their own.

    Raises NotFoundError (unknown or already revoked), PermissionDeniedError.
    """
    row = session.get(KeyRow, key_id)
    if row is None or row.revoked_at is not None:
        raise NotFoundError(
            f"Không có khóa ký số {key_id} đang dùng / no active signing key {key_id}",
            code="signing_key_not_found",
        )
    if not (principal.is_admin or row.user_id == principal.user_id):
        raise PermissionDeniedError(
            "Chỉ quản trị viên hoặc chủ khóa được thu hồi khóa / only admins or the key's owner "
            "may revoke it"
        )
    _revoke(row, principal)
    audit.record(
        session, principal.user_id, "signing_key_revoke", "signing_key", row.id,
        {"owner": owner_context(row)},
    )  # fmt: skip
    log.info("signing key %s revoked", row.id)
