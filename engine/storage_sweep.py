"""The orphan sweep: objects no committed row references, and what uploads killed midway
left behind, removed once older than a grace period; and the release of one object after
a purge (the sweep's rule for one key)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.errors import InvalidInputError
from engine.storage_references import OTHER_REFERENCES, REFERENCES
from storage.db import reading
from storage.models import StoredFile, utcnow
from storage.objects import Leftover, ObjectInfo, ObjectStore, RetainedObjectError

__all__ = [
    "SWEEP_GRACE_MAX_HOURS",
    "SWEEP_GRACE_MIN_HOURS",
    "release_object",
    "sweep",
    "sweep_leftovers",
]

# An upload writes its object before its row commits; one hour outlasts any request. The
# upper bound (about 11 years) keeps `now - grace` a representable date.
SWEEP_GRACE_MIN_HOURS = 1
SWEEP_GRACE_MAX_HOURS = 100_000
# The temp files `engine.files.spool` receives uploads into, in the settings' tmp_dir.
_SPOOL_GLOB = "upload-*"
# Removals listed in one audit event: a sweep of many thousands writes several events of a
# few hundred kilobytes each rather than one the database or a reader would choke on.
_AUDIT_BATCH = 1000


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
    request. The archive area (retained records) is never swept. Every object deleted is
    audited (`sweep`), those deleted before a failure too.

    Raises InvalidInputError when `grace` is outside SWEEP_GRACE_MIN_HOURS..MAX_HOURS.
    """
    cutoff = _cutoff(grace, now)
    candidates = [info for info in store.list_objects() if info.modified <= cutoff]
    with reading(factory) as s:
        referenced = {key for query in REFERENCES for key in s.scalars(query)}
    removed: list[ObjectInfo] = []
    try:
        for info in candidates:
            if info.key in referenced:
                continue
            if dry_run or store.delete_if_stale(info.key, cutoff):
                removed.append(info)
    finally:
        if not dry_run:
            entries = [_entry("key", i.key, i.size, i.modified, "unreferenced") for i in removed]
            _record(factory, "sweep", entries, grace)
    return [info.key for info in removed]


def sweep_leftovers(
    factory: sessionmaker[Session],
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
    Every removal is audited (`sweep_leftovers`), those made before a failure too.

    Raises InvalidInputError for a `grace` out of range (see `sweep`), StorageError.
    """
    cutoff = _cutoff(grace, now)
    leftovers = chain(
        _spool_files(tmp_dir, cutoff, dry_run), store.clear_leftovers(cutoff, dry_run=dry_run)
    )
    found: list[Leftover] = []
    try:
        for item in leftovers:  # one at a time: a failure keeps the record of what went
            found.append(item)
    finally:
        if not dry_run:
            entries = [_entry("name", i.name, i.size, i.modified, i.reason) for i in found]
            _record(factory, "sweep_leftovers", entries, grace)
    return found


def _spool_files(tmp_dir: Path, cutoff: datetime, dry_run: bool) -> Iterator[Leftover]:
    """The spooled uploads in `tmp_dir` untouched since `cutoff`, each yielded once removed."""
    for path in sorted(tmp_dir.glob(_SPOOL_GLOB)):
        with contextlib.suppress(FileNotFoundError):  # its upload finished meanwhile
            st = path.stat()
            modified = datetime.fromtimestamp(st.st_mtime, UTC)
            if not path.is_file() or modified > cutoff:
                continue
            if not dry_run:
                path.unlink()
            yield Leftover(str(path), st.st_size, modified, "upload_spool")


def _entry(field: str, where: str, size: int, modified: datetime, reason: str) -> dict[str, Any]:
    return {field: where, "size": size, "modified": modified.isoformat(), "reason": reason}


def _record(
    factory: sessionmaker[Session], action: str, entries: list[dict[str, Any]], grace: timedelta
) -> None:
    """Audit what a sweep removed, `_AUDIT_BATCH` entries per event so none is left out."""
    if not entries:
        return
    with factory.begin() as s:
        for start in range(0, len(entries), _AUDIT_BATCH):
            details = {
                "grace_hours": grace.total_seconds() / 3600,
                "removed": entries[start : start + _AUDIT_BATCH],
            }
            audit.record(s, None, action, "object_store", "sweep", details)


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
            for query, column in OTHER_REFERENCES
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
