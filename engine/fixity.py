"""Integrity work over the whole store: fixity check, orphan sweep, migration between stores."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.errors import InvalidInputError
from storage.db import reading
from storage.errors import StorageError
from storage.models import ExchangeEvidence, ExternalSigning, StoredFile, utcnow
from storage.objects import (
    Leftover,
    ObjectMissingError,
    ObjectStore,
    RetainedObjectError,
    content_sha256,
)

__all__ = [
    "SWEEP_GRACE_MAX_HOURS",
    "SWEEP_GRACE_MIN_HOURS",
    "CheckReport",
    "MigrateReport",
    "check_store",
    "migrate_store",
    "release_object",
    "sweep",
    "sweep_leftovers",
]

Progress = Callable[[int, int], None]
# An upload writes its object before its row commits; one hour outlasts any request. The
# upper bound (about 11 years) keeps `now - grace` a representable date.
SWEEP_GRACE_MIN_HOURS = 1
SWEEP_GRACE_MAX_HOURS = 100_000
# The temp files `engine.files.spool` receives uploads into, in the settings' tmp_dir.
_SPOOL_GLOB = "upload-*"


@dataclass
class CheckReport:
    checked: int = 0
    ok: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when nothing is missing or corrupt."""
        return not self.missing and not self.corrupt


@dataclass
class MigrateReport:
    total: int = 0
    copied: int = 0
    already_there: int = 0
    failed: list[str] = field(default_factory=list)


# Objects in the main area that rows other than files point at: the raw packages kept as
# exchange evidence, and the PDFs prepared for an external signature.
_OTHER_REFERENCES = (
    (select(ExchangeEvidence.object_key), ExchangeEvidence.object_key),
    (select(ExternalSigning.prepared_key), ExternalSigning.prepared_key),
)
# Every key a committed row still needs; the sweep keeps them all.
_REFERENCES = (
    select(StoredFile.key).where(StoredFile.purged_at.is_(None)),
    *(query.where(column.is_not(None)) for query, column in _OTHER_REFERENCES),
)


@dataclass(frozen=True)
class _Stored:
    """One object a row needs, with what its bytes must be (None: not known)."""

    key: str
    archived: bool
    size: int | None
    sha256: str | None
    retain_until: datetime | None = None

    def matches(self, got: tuple[int, str]) -> bool:
        """True when the measured (size, SHA-256) is what the rows expect."""
        return self.size in (None, got[0]) and self.sha256 in (None, got[1])


def _objects(factory: sessionmaker[Session]) -> list[_Stored]:
    """Every object a row references: files (with the longest retention any of their rows
    asks for), then the main-area keys of `_OTHER_REFERENCES`, checked against the SHA-256
    their content address names."""
    with factory.begin() as s:
        rows = s.execute(
            select(
                StoredFile.key,
                StoredFile.archived,
                StoredFile.size,
                StoredFile.sha256,
                func.max(StoredFile.retain_until),
            )
            .where(StoredFile.purged_at.is_(None))
            .group_by(StoredFile.key, StoredFile.archived, StoredFile.size, StoredFile.sha256)
        ).all()
        others = {
            key
            for query, column in _OTHER_REFERENCES
            for key in s.scalars(query.where(column.is_not(None)))
        }
    found = [_Stored(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    files = {(o.key, o.archived) for o in found}
    found += [_Stored(k, False, None, content_sha256(k)) for k in others if (k, False) not in files]
    return sorted(found, key=lambda o: (o.key, o.archived))


def _digest(store: ObjectStore, key: str, archived: bool) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in store.open(key, archive=archived):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def check_store(
    factory: sessionmaker[Session], store: ObjectStore, progress: Progress | None = None
) -> CheckReport:
    """Re-hash every object a row references (files, exchange evidence, prepared signatures);
    missing and corrupt ones are reported and audited."""
    objects = _objects(factory)
    report = CheckReport()
    for i, obj in enumerate(objects, 1):
        report.checked += 1
        try:
            got = _digest(store, obj.key, obj.archived)
        except ObjectMissingError:
            report.missing.append(obj.key)
        else:
            if obj.matches(got):
                report.ok += 1
            else:
                report.corrupt.append(obj.key)
        if progress:
            progress(i, len(objects))
    now = utcnow()
    with factory.begin() as s:
        for key in report.missing + report.corrupt:
            kind = "missing" if key in report.missing else "corrupt"
            audit.record(s, None, f"fixity_{kind}", "object", key)
        bad = set(report.missing + report.corrupt)
        for row in s.scalars(select(StoredFile).where(StoredFile.purged_at.is_(None))):
            if row.key not in bad:
                row.verified_at = now
    return report


def sweep(
    factory: sessionmaker[Session],
    store: ObjectStore,
    *,
    grace: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete objects older than `grace` that no committed row references; returns their keys.

    An upload writes (or touches) its object before its row commits, so an object younger
    than `grace` may belong to a transaction still running: keep `grace` above the longest
    request. The archive area (retained records) is never swept.

    Raises InvalidInputError when `grace` is outside SWEEP_GRACE_MIN_HOURS..MAX_HOURS.
    """
    cutoff = _cutoff(grace, now)
    candidates = [info for info in store.list_objects() if info.modified <= cutoff]
    with reading(factory) as s:
        referenced = {key for query in _REFERENCES for key in s.scalars(query)}
    removed = []
    for info in candidates:
        if info.key in referenced:
            continue
        if dry_run or store.delete_if_stale(info.key, cutoff):
            removed.append(info.key)
    if removed and not dry_run:
        with factory.begin() as s:
            audit.record(s, None, "sweep", "object_store", "sweep", {"removed": removed[:1000]})
    return removed


def sweep_leftovers(
    store: ObjectStore,
    tmp_dir: Path,
    *,
    grace: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Leftover]:
    """Remove what uploads killed midway left, untouched for `grace`: spooled uploads in
    `tmp_dir`, the store's partial writes (local temp files, unfinished S3 multipart
    uploads); returns them. Younger ones may belong to an upload still running and stay.

    Raises InvalidInputError for a `grace` out of range (see `sweep`), StorageError.
    """
    cutoff = _cutoff(grace, now)
    found = []
    for path in sorted(tmp_dir.glob(_SPOOL_GLOB)):
        with contextlib.suppress(FileNotFoundError):  # its upload finished meanwhile
            st = path.stat()
            modified = datetime.fromtimestamp(st.st_mtime, UTC)
            if path.is_file() and modified <= cutoff:
                if not dry_run:
                    path.unlink()
                found.append(Leftover(str(path), st.st_size, modified))
    return found + store.clear_leftovers(cutoff, dry_run=dry_run)


def _cutoff(grace: timedelta, now: datetime | None) -> datetime:
    hours = grace.total_seconds() / 3600
    if not SWEEP_GRACE_MIN_HOURS <= hours <= SWEEP_GRACE_MAX_HOURS:
        raise InvalidInputError(
            f"Thời gian chờ {hours:g} giờ nằm ngoài {SWEEP_GRACE_MIN_HOURS}–"
            f"{SWEEP_GRACE_MAX_HOURS} giờ: chờ ngắn hơn có thể xoá tệp của một lần tải lên chưa "
            f"ghi xong / a grace of {hours:g} hours is outside {SWEEP_GRACE_MIN_HOURS} to "
            f"{SWEEP_GRACE_MAX_HOURS} hours: a shorter one may delete the object of an upload "
            "whose row has not committed yet",
            code="sweep_grace_out_of_range",
        )
    return (now or utcnow()) - grace


def release_object(
    factory: sessionmaker[Session],
    store: ObjectStore,
    key: str,
    *,
    archive: bool = False,
    cutoff: datetime,
) -> Literal["removed", "shared", "left_to_sweep", "retained"]:
    """Delete one object when no committed row references it and nothing wrote or touched it
    after `cutoff` (the sweep's rule, for one key); says what became of it.

    Call it only after the transaction that dropped the last reference has committed. Raises
    StorageError when the store cannot be reached.
    """
    with reading(factory) as s:
        shared = s.scalar(
            select(StoredFile.id)
            .where(
                StoredFile.key == key,
                StoredFile.archived.is_(archive),
                StoredFile.purged_at.is_(None),
            )
            .limit(1)
        )
        kept = not archive and any(
            s.scalar(query.where(column == key).limit(1)) is not None
            for query, column in _OTHER_REFERENCES
        )
    if shared is not None or kept:
        return "shared"
    if not archive:
        # The store's own check-and-delete: an upload that touches the object meanwhile wins.
        if store.delete_if_stale(key, cutoff):
            return "removed"
        return "removed" if store.stat(key) is None else "left_to_sweep"
    info = store.stat(key, archive=True)
    if info is not None and info.modified > cutoff:
        return "left_to_sweep"
    try:
        # An archive write of the same content lengthens the retention: the delete then fails.
        store.delete(key, archive=True)
    except RetainedObjectError:
        return "retained"
    return "removed"


def migrate_store(
    factory: sessionmaker[Session],
    source: ObjectStore,
    target: ObjectStore,
    progress: Progress | None = None,
) -> MigrateReport:
    """Copy every object a row references to `target` and verify it there; safe to run again.

    The source's bytes are verified first, so a corrupt one is reported and never copied
    (an archived copy could not be removed again); a copy that does not verify in the main
    area is deleted. Failures are listed in the report, not raised.
    """
    objects = _objects(factory)
    report = MigrateReport(total=len(objects))
    for i, obj in enumerate(objects, 1):
        try:
            if _present(target, obj):
                report.already_there += 1
            else:
                _verify_source(source, obj)
                _copy(source, target, obj)
                _verify_copy(target, obj)
                report.copied += 1
        except StorageError as e:
            report.failed.append(f"{obj.key}: {e.message}")
        if progress:
            progress(i, len(objects))
    return report


def _verify_source(source: ObjectStore, obj: _Stored) -> None:
    """Raise StorageError when the source's bytes are not what the rows expect."""
    size, sha256 = _digest(source, obj.key, obj.archived)
    if obj.matches((size, sha256)):
        return
    if obj.sha256 not in (None, sha256):
        vi, en = (
            f"SHA-256 phải là {obj.sha256} nhưng là {sha256}",
            f"expected sha256 {obj.sha256}, got {sha256}",
        )
    else:
        vi, en = (
            f"phải có {obj.size} byte nhưng có {size}",
            f"expected {obj.size} bytes, got {size}",
        )
    raise StorageError(
        f"Đối tượng nguồn {obj.key} bị hỏng: {vi}; không sao chép, hãy khôi phục từ bản sao lưu "
        f"rồi chạy lại / source object {obj.key} is corrupt: {en}; nothing was copied: restore "
        "it from a backup and run again",
        code="source_corrupt",
    )


def _verify_copy(target: ObjectStore, obj: _Stored) -> None:
    """Re-read the copy; raise StorageError when it does not verify, deleting it first from
    the main area (an archived copy stays: retention forbids deleting it)."""
    if obj.matches(_digest(target, obj.key, obj.archived)):
        return
    where = target.name
    if obj.archived:
        raise StorageError(
            f"Bản sao lưu trữ {obj.key} trên {where} bị hỏng và không xoá được vì đang được lưu "
            f"giữ (WORM); báo nhà cung cấp kho / the archived copy of {obj.key} on {where} does "
            "not verify and cannot be deleted while under retention (WORM); check the store",
            code="copy_corrupt",
        )
    target.delete(obj.key)
    raise StorageError(
        f"Bản sao {obj.key} trên {where} bị hỏng nên đã bị xoá; chạy lại lệnh / the copy of "
        f"{obj.key} on {where} does not verify, so it was deleted; run again",
        code="copy_corrupt",
    )


def _present(store: ObjectStore, obj: _Stored) -> bool:
    info = store.stat(obj.key, archive=obj.archived)
    return (
        info is not None
        and obj.size in (None, info.size)
        and obj.matches(_digest(store, obj.key, obj.archived))
    )


class _ChunkReader:
    """A file-like `read()` over an iterator of chunks, to stream one store into another."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._it = chunks
        self._buf = bytearray()

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._it, None)
            if chunk is None:
                break
            self._buf += chunk
        size = len(self._buf) if n < 0 else min(n, len(self._buf))
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out


def _copy(source: ObjectStore, target: ObjectStore, obj: _Stored) -> None:
    size = obj.size
    if size is None:  # a reference without a files row: the source says how big it is
        info = source.stat(obj.key, archive=obj.archived)
        if info is None:
            raise ObjectMissingError(
                f"Thiếu đối tượng {obj.key} trong kho / object {obj.key} is missing from the store"
            )
        size = info.size
    reader = _ChunkReader(source.open(obj.key, archive=obj.archived))
    # `replace`: a copy already there failed verification, so it is rewritten, not trusted.
    target.put(
        obj.key,
        reader,  # type: ignore[arg-type]
        size,
        archive=obj.archived,
        retain_until=obj.retain_until,
        replace=not obj.archived,
    )
