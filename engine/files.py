"""Files: upload (spooled, hashed, sniffed), store by content address, versions, soft delete.

Objects are written before the database row commits; `engine.storage_sweep.sweep` removes objects
that no committed row references once a grace period has passed. Reads verify the SHA-256
while streaming (`verified_chunks`).
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.agencies import in_scope
from engine.errors import (
    ConflictError,
    FileDeletedError,
    FileTooLargeError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from engine.principal import Principal
from engine.storage_sweep import release_object
from storage.errors import StorageError
from storage.models import Agency, SignatureUpgrade, StoredFile, User, utcnow
from storage.names import sanitise_name
from storage.objects import ObjectStore, key_for

__all__ = [
    "RECORD_CLASSES",
    "FileDeletedError",
    "FileTooLargeError",
    "FileView",
    "IntegrityError",
    "PurgeView",
    "Purged",
    "Spooled",
    "dossier_files_of",
    "file_for_reading",
    "file_for_writing",
    "no_such_file",
    "file_versions",
    "latest_version",
    "purge_file",
    "put_object",
    "release_purged",
    "soft_delete",
    "spool",
    "store_file",
    "store_system_file",
    "verified_chunks",
]

# Retention per record class (years; None = permanent, kept forever under WORM).
RECORD_CLASSES: dict[str, int | None] = {
    "permanent": None,  # Vĩnh viễn
    "70y": 70,
    "50y": 50,
    "20y": 20,
    "10y": 10,
    "5y": 5,
}
_PERMANENT_YEARS = 1000
_SNIFF = 8192


@dataclass(frozen=True)
class Spooled:
    """An upload received to a temporary file: hashed, measured and sniffed."""

    path: Path
    sha256: str
    size: int
    media_type: str

    def open(self) -> BinaryIO:
        """The spooled bytes from the start."""
        return self.path.open("rb")


@dataclass(frozen=True)
class FileView:
    id: str
    root_id: str
    previous_id: str | None
    version: int
    sha256: str
    size: int
    media_type: str
    name: str
    archived: bool
    record_class: str | None
    retain_until: datetime | None
    uploaded_by: str | None
    created_at: datetime
    deleted_at: datetime | None
    delete_reason: str | None


def sniff(head: bytes) -> str:
    """The media type from the first bytes (libmagic), never from what the client claims."""
    import magic

    try:
        return str(magic.from_buffer(head, mime=True)) or "application/octet-stream"
    except magic.MagicException:
        return "application/octet-stream"


def spool(chunks: Iterable[bytes], *, limit: int, tmp_dir: Path) -> Spooled:
    """Receive chunks to a temp file while hashing; raises FileTooLargeError past `limit`."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    head = b""
    size = 0
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    path = Path(name)
    try:
        with open(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileTooLargeError(
                        f"Tệp vượt quá giới hạn {limit // (1024 * 1024)} MB / the file is larger "
                        f"than the {limit // (1024 * 1024)} MB limit (LIENTHONG_MAX_UPLOAD_MB)"
                    )
                if len(head) < _SNIFF:
                    head += chunk[: _SNIFF - len(head)]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(path, digest.hexdigest(), size, sniff(head))


def _retention(record_class: str | None, now: datetime) -> datetime | None:
    if record_class is None:
        return None
    if record_class not in RECORD_CLASSES:
        raise InvalidInputError(
            f"Loại hồ sơ lưu trữ '{record_class}' không hợp lệ / unknown record class",
            details=[{"field": "record_class", "message": f"one of {sorted(RECORD_CLASSES)}"}],
        )
    years = RECORD_CLASSES[record_class] or _PERMANENT_YEARS
    return now + timedelta(days=round(365.25 * years))


def store_file(
    session: Session,
    store: ObjectStore,
    upload: Spooled,
    name: str | None,
    principal: Principal,
    *,
    previous_id: str | None = None,
    record_class: str | None = None,
    secrecy: int = 0,
    owner: tuple[str, str] | None = None,
    agency_id: int | None = None,
) -> FileView:
    """Write the object (once per content) and add the file row; a previous id makes a new version.

    Raises NotFoundError/PermissionDeniedError for a previous version the user cannot see,
    InvalidInputError for a bad record class or secrecy above the user's clearance.
    """
    if not 0 <= secrecy <= int(principal.clearance):
        raise PermissionDeniedError(
            "Không được gắn độ mật cao hơn mức được tiếp cận / secrecy above your clearance",
            code="secrecy_above_clearance",
        )
    previous = file_for_writing(session, previous_id, principal) if previous_id else None
    if previous is not None and previous.deleted_at is not None:
        raise ConflictError("Không tạo phiên bản mới cho tệp đã xoá / the file was deleted")
    return _write(
        session,
        store,
        upload,
        name,
        previous=previous,
        record_class=record_class,
        secrecy=secrecy,
        owner=owner,
        agency_id=agency_id or principal.agency_id,
        uploader=(principal.user_id, principal.username),
    )


def store_system_file(
    session: Session,
    store: ObjectStore,
    upload: Spooled,
    name: str | None,
    *,
    agency_id: int,
    owner: tuple[str, str] | None,
    secrecy: int = 0,
    previous: StoredFile | None = None,
    examine_signatures: bool = True,
    stored: bool = False,
) -> FileView:
    """Store a file no user uploaded (an attachment of a package from another agency, a
    signature the worker upgraded); with `previous`, as its next version. `stored`: the
    object was already written with `put_object`, only the row is added."""
    return _write(
        session,
        store,
        upload,
        name,
        previous=previous,
        record_class=previous.record_class if previous else None,
        secrecy=secrecy,
        owner=owner,
        agency_id=agency_id,
        uploader=(None, None),
        examine_signatures=examine_signatures,
        stored=stored,
    )


def put_object(
    store: ObjectStore,
    upload: Spooled,
    *,
    archive: bool = False,
    retain_until: datetime | None = None,
) -> str:
    """Write the upload under its content address (identical content is stored once); returns
    the key. Objects go in before the row that references them commits (see the sweep)."""
    key = key_for(upload.sha256)
    with upload.open() as source:
        store.put(
            key,
            source,
            upload.size,
            content_type=upload.media_type,
            archive=archive,
            retain_until=retain_until,
        )
    return key


def _write(
    session: Session,
    store: ObjectStore,
    upload: Spooled,
    name: str | None,
    *,
    previous: StoredFile | None,
    record_class: str | None,
    secrecy: int,
    owner: tuple[str, str] | None,
    agency_id: int,
    uploader: tuple[int | None, str | None],
    examine_signatures: bool = True,
    stored: bool = False,
) -> FileView:
    if previous is not None:
        _check_latest(session, previous)
    now = utcnow()
    retain_until = _retention(record_class, now)
    archived = record_class is not None
    if stored:
        key = key_for(upload.sha256)
    else:
        key = put_object(store, upload, archive=archived, retain_until=retain_until)
    file_id = str(uuid.uuid4())
    row = StoredFile(
        id=file_id,
        root_id=previous.root_id if previous else file_id,
        previous_id=previous.id if previous else None,
        version=_next_version(session, previous) if previous else 1,
        sha256=upload.sha256,
        size=upload.size,
        media_type=upload.media_type,
        name=sanitise_name(name),
        key=key,
        archived=archived,
        record_class=record_class,
        retain_until=retain_until,
        agency_id=previous.agency_id if previous else agency_id,
        secrecy=max(secrecy, previous.secrecy if previous else 0),
        owner_type=owner[0] if owner else (previous.owner_type if previous else None),
        owner_id=owner[1] if owner else (previous.owner_id if previous else None),
        uploaded_by=uploader[0],
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except DatabaseIntegrityError:
        # Another request added this version number to the chain first.
        raise _not_latest(previous) from None
    if examine_signatures and row.media_type == "application/pdf":
        # Whoever signed it, a B-T signature must reach B-LTA to stay verifiable once its
        # certificates expire: the worker validates every stored PDF and upgrades those.
        session.add(SignatureUpgrade(file_id=file_id))
    session.flush()
    audit.record(
        session,
        uploader[0],
        "upload",
        "file",
        file_id,
        {"sha256": upload.sha256, "size": upload.size},
    )
    return _view(row, uploader[1])


def _check_latest(session: Session, previous: StoredFile) -> None:
    # One version at a time per chain: its first row is locked first (PostgreSQL; SQLite's
    # single writer already orders them), so a writer that waited sees the version just
    # added. Without it, both pass the check and the later one takes the next number too.
    session.execute(
        select(StoredFile.id).where(StoredFile.id == previous.root_id).with_for_update()
    )
    # The newest live version: one deleted after it does not freeze the chain.
    newest = latest_version(session, previous.root_id)
    if newest is not None and newest.version > previous.version:
        raise _not_latest(previous)


def _next_version(session: Session, previous: StoredFile) -> int:
    # Numbers are never reused, deleted versions included; two writers racing for the same
    # number meet the unique (root_id, version) and one gets the 409.
    top = session.scalar(
        select(StoredFile.version)
        .where(StoredFile.root_id == previous.root_id)
        .order_by(StoredFile.version.desc())
        .limit(1)
    )
    return (top or previous.version) + 1


def _not_latest(previous: StoredFile | None) -> ConflictError:
    which = f"{previous.id} (v{previous.version})" if previous is not None else ""
    return ConflictError(
        f"Tệp {which} đã có phiên bản mới hơn; hãy tạo phiên bản từ bản mới nhất / file {which} "
        "already has a newer version; add a version to the latest one",
        code="not_latest_version",
    )


def _view(row: StoredFile, uploader: str | None) -> FileView:
    return FileView(
        id=row.id,
        root_id=row.root_id,
        previous_id=row.previous_id,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        name=row.name,
        archived=row.archived,
        record_class=row.record_class,
        retain_until=row.retain_until,
        uploaded_by=uploader,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
        delete_reason=row.delete_reason,
    )


def file_for_reading(
    session: Session, file_id: str | None, principal: Principal, *, include_deleted: bool = False
) -> StoredFile:
    """The file row if the principal's agency scope and clearance allow; raises 404/403.

    A soft-deleted file is gone for readers (410) unless `include_deleted`.
    """
    row = session.get(StoredFile, file_id) if file_id and _is_uuid(file_id) else None
    if row is None or row.purged_at is not None:
        raise no_such_file(file_id)
    if not _may_read(session, row, principal):
        raise PermissionDeniedError("Tệp thuộc cơ quan khác / the file belongs to another agency")
    if row.secrecy > int(principal.clearance):
        raise PermissionDeniedError(
            "Tệp mật vượt quá mức được tiếp cận / the file's secrecy is above your clearance",
            code="clearance_required",
        )
    if row.deleted_at is not None and not include_deleted:
        raise FileDeletedError(
            f"Tệp {file_id} đã bị xoá ({row.delete_reason}) / file {file_id} was deleted: "
            f"{row.delete_reason}"
        )
    return row


def no_such_file(file_id: str | None) -> NotFoundError:
    """The 404 for a file id, quoting at most 40 characters of what the client sent."""
    shown = file_id if file_id is None or len(file_id) <= 40 else file_id[:40] + "…"
    return NotFoundError(f"Không có tệp {shown} / No file {shown}", code="file_not_found")


def file_for_writing(session: Session, file_id: str | None, principal: Principal) -> StoredFile:
    """The file row if the principal may delete it or add a version (deleted rows too).

    Reading is not enough: the file must belong to the principal's agency subtree, or to a
    dossier the principal's agency receives or handles as the competent agency. A unit a
    document is shared with, or a province official reading a commune's dossier, may read
    its files but not replace or delete them. Raises 404/403 like `file_for_reading`.
    """
    row = file_for_reading(session, file_id, principal, include_deleted=True)
    agency = session.get(Agency, row.agency_id)
    if agency is not None and in_scope(principal, agency.path):
        return row
    if row.owner_type == "dossier" and row.owner_id:
        from engine.dossiers.reading import handles

        if handles(session, principal, row.owner_id):
            return row
    raise PermissionDeniedError(
        "Chỉ cơ quan giữ tệp mới được xoá hoặc thay tệp / only the agency holding the file may "
        "delete it or add a version",
        code="file_not_yours",
    )


def _may_read(session: Session, row: StoredFile, principal: Principal) -> bool:
    # A dossier's or a document's files follow it, whatever agency uploaded them: the
    # dossier's readers (engine.dossiers.access), the document's agency and the units it is
    # shared with. Only an upload not attached yet follows its agency's subtree.
    if row.owner_type == "dossier" and row.owner_id:
        from engine.dossiers.reading import may_read

        return may_read(session, principal, row.owner_id)
    if row.owner_type == "document" and row.owner_id:
        from engine.documents.reading import may_read as may_read_document

        return may_read_document(session, principal, row.owner_id)
    agency = session.get(Agency, row.agency_id)
    return agency is not None and in_scope(principal, agency.path)


def latest_version(session: Session, root_id: str | None) -> StoredFile | None:
    """The newest live (not deleted, not purged) version of a file chain."""
    if root_id is None:
        return None
    return session.scalar(
        select(StoredFile)
        .where(
            StoredFile.root_id == root_id,
            StoredFile.deleted_at.is_(None),
            StoredFile.purged_at.is_(None),
        )
        .order_by(StoredFile.version.desc())
        .limit(1)
    )


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def file_versions(session: Session, file_id: str, principal: Principal) -> list[FileView]:
    """Every version of the file's chain the principal's clearance covers, oldest first."""
    row = file_for_reading(session, file_id, principal, include_deleted=True)
    rows = session.execute(
        select(StoredFile, User.username)
        .outerjoin(User, User.id == StoredFile.uploaded_by)
        .where(
            StoredFile.root_id == row.root_id,
            StoredFile.purged_at.is_(None),
            # A version more secret than the reader's clearance is not listed: its name,
            # size and hash are the secret's too.
            StoredFile.secrecy <= int(principal.clearance),
        )
        .order_by(StoredFile.version)
    ).all()
    return [_view(r, name) for r, name in rows]


def dossier_files_of(session: Session, code: str, principal: Principal) -> list[FileView]:
    """Each file attached to a dossier, at its latest version that is live (not deleted) and
    within the principal's clearance."""
    rows = session.execute(
        select(StoredFile, User.username)
        .outerjoin(User, User.id == StoredFile.uploaded_by)
        .where(
            StoredFile.owner_type == "dossier",
            StoredFile.owner_id == code,
            StoredFile.purged_at.is_(None),
            StoredFile.deleted_at.is_(None),
            StoredFile.secrecy <= int(principal.clearance),
        )
        .order_by(StoredFile.created_at)
    ).all()
    latest: dict[str, tuple[StoredFile, str | None]] = {}
    for row, name in rows:
        if row.root_id not in latest or row.version > latest[row.root_id][0].version:
            latest[row.root_id] = (row, name)
    return [_view(r, n) for r, n in latest.values()]


def verified_chunks(
    store: ObjectStore, row: StoredFile, on_mismatch: Callable[[str], None]
) -> Iterator[bytes]:
    """Stream the object, checking size and SHA-256; the last chunk is held back until they match.

    The object is opened at once (a missing object raises ObjectMissingError here, before
    any response starts). On a mismatch — more bytes than recorded as soon as they appear,
    or a wrong size or hash at the end — `on_mismatch(message)` is called and IntegrityError
    raised before the final bytes go out, so a client never receives a complete corrupt file.
    """
    return _verify(store.open(row.key, archive=row.archived), row, on_mismatch)


def _verify(
    chunks: Iterator[bytes], row: StoredFile, on_mismatch: Callable[[str], None]
) -> Iterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    pending: bytes | None = None
    for chunk in chunks:
        size += len(chunk)
        if size > row.size:
            break
        if pending is not None:
            yield pending
        digest.update(chunk)
        pending = chunk
    if size != row.size or digest.hexdigest() != row.sha256:
        message = (
            f"Tệp {row.id} bị hỏng trong kho (SHA-256/kích thước không khớp) / file {row.id} is "
            f"corrupt in the store: expected {row.size} bytes sha256 {row.sha256[:12]}…, got "
            f"{'more than ' if size > row.size else ''}{size} bytes"
        )
        on_mismatch(message)
        raise IntegrityError(message)
    if pending is not None:
        yield pending


def soft_delete(session: Session, file_id: str, principal: Principal, reason: str) -> FileView:
    """Mark a file deleted with a reason (the object stays); raises ConflictError if already,
    PermissionDeniedError when the principal may read the file but not delete it."""
    row = file_for_writing(session, file_id, principal)
    if row.deleted_at is not None:
        raise ConflictError("Tệp đã bị xoá trước đó / the file is already deleted")
    if not reason.strip():
        raise InvalidInputError(
            "Cần lý do xoá / a reason is required",
            details=[{"field": "reason", "message": "required"}],
        )
    row.deleted_at = utcnow()
    row.deleted_by = principal.user_id
    row.delete_reason = reason.strip()
    audit.record(session, principal.user_id, "soft_delete", "file", file_id, {"reason": reason})
    return _view(row, None)


@dataclass(frozen=True)
class Purged:
    """A purged file's object, to be released once the purge has committed."""

    file_id: str
    key: str
    archived: bool
    since: datetime  # a write after this is newer than the purge and keeps the object


@dataclass(frozen=True)
class PurgeView:
    """What a purge did: the row is gone; `object` says what became of the bytes."""

    id: str
    object: Literal["removed", "shared", "left_to_sweep", "retained"]
    detail: str


def purge_file(session: Session, file_id: str, principal: Principal, *, grace: timedelta) -> Purged:
    """Admin only: mark a soft-deleted file purged; its object is left for `release_purged`.

    The bytes may only go once this row change has committed (a failed commit must leave
    them), so the caller commits, then calls `release_purged`; they go at once only if
    nothing wrote or touched them within `grace` (the sweep's: an upload of the same content
    writes the object before its row commits). Raises PermissionDeniedError, ConflictError
    (not soft-deleted first, or under retention: code `retained`).
    """
    if not principal.is_admin:
        raise PermissionDeniedError("Chỉ quản trị viên được xoá hẳn / only admins may purge")
    now = utcnow()
    row = file_for_reading(session, file_id, principal, include_deleted=True)
    if row.deleted_at is None:
        raise ConflictError(
            "Xoá mềm tệp trước khi xoá hẳn / soft-delete the file before purging it"
        )
    if row.retain_until is not None and row.retain_until > utcnow():
        raise ConflictError(
            f"Tệp đang trong thời hạn lưu trữ đến {row.retain_until:%d/%m/%Y} / the file is under "
            f"retention until {row.retain_until.date()}",
            code="retained",
        )
    row.purged_at = now
    audit.record(session, principal.user_id, "purge", "file", file_id)
    return Purged(file_id, row.key, row.archived, now - grace)


_RELEASED = {
    "removed": "Đã xoá dữ liệu tệp / the file's bytes were deleted",
    "shared": "Dữ liệu còn được tệp khác dùng nên được giữ / the bytes stay: another file "
    "has the same content",
    "left_to_sweep": "Dữ liệu vừa được ghi lại gần đây (trong LIENTHONG_PURGE_GRACE_SECONDS) nên "
    "chưa xoá được ngay; `lienthong storage sweep` sẽ xoá sau / the bytes were written or "
    "touched recently (within LIENTHONG_PURGE_GRACE_SECONDS), so an upload of the same content "
    "may still commit them: `lienthong storage sweep` removes them once no file uses them",
    "retained": "Kho từ chối xoá (đang lưu giữ WORM) / the store refuses to delete the bytes: "
    "they are under retention",
}


def release_purged(factory: sessionmaker[Session], store: ObjectStore, purged: Purged) -> PurgeView:
    """After the purge committed: delete its object unless a committed row references it or
    a write since the purge began touched it (an upload that may yet commit a row for it).

    The row is purged whatever happens here: a store that cannot be reached leaves the bytes
    to the sweep, and the answer says so.
    """
    try:
        outcome = release_object(
            factory, store, purged.key, archive=purged.archived, cutoff=purged.since
        )
    except StorageError as e:
        return PurgeView(
            purged.file_id, "left_to_sweep", f"{e.message}; {_RELEASED['left_to_sweep']}"
        )
    return PurgeView(purged.file_id, outcome, _RELEASED[outcome])
