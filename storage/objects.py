"""The object store: one interface, a local directory (embedded default) and S3 (`storage.s3`).

Keys are content addresses (`sha256/ab/abcdef…`, see `key_for`): an object is written once
and never overwritten, so a write of an existing key is a no-op. The archive area keeps
objects under retention (WORM): deleting one before its retention date fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.durable import fsync_dir, make_dirs, write_atomic
from storage.errors import ObjectStoreError, StorageError

__all__ = [
    "CHUNK",
    "DamagedArchiveError",
    "Leftover",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectMissingError",
    "ObjectStore",
    "RetainedObjectError",
    "content_sha256",
    "key_for",
]

# Read size of both stores: a download's chunks each pass the SHA-256 check and, when streamed,
# a thread hop in the web server; 1 MB chunks took 50 MB downloads from S3 from 180 to 147 ms.
CHUNK = 1024 * 1024
_CONTENT_KEY = re.compile(r"sha256/([0-9a-f]{2})/(\1[0-9a-f]{62})")
# Temp files of the local store; dot-files, so never listed as objects.
_INCOMING_PREFIX = ".incoming-"  # a write in progress, renamed onto its key when complete
_SWEEP_PREFIX = ".sweep-"  # an object the sweep moved aside before removing it
_PING_PREFIX = ".ping-"  # the start-up probe that the root is writable


class ObjectMissingError(StorageError):
    http_status = 410
    default_code = "object_missing"


class RetainedObjectError(StorageError):
    http_status = 409
    default_code = "retained"


class DamagedArchiveError(StorageError):
    http_status = 409
    default_code = "archived_object_damaged"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Bản lưu trữ {key} bị hỏng và không thể ghi đè vì đang được lưu giữ (WORM); báo "
            f"quản trị viên khôi phục từ bản sao lưu / the archived copy of {key} is damaged and "
            "cannot be replaced while under retention (WORM); ask an administrator to restore it "
            "from a backup"
        )


def key_for(sha256: str) -> str:
    """The content address of an object: `sha256/<first two hex>/<hex>`."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a lowercase hex SHA-256")
    return f"sha256/{sha256[:2]}/{sha256}"


def content_sha256(key: str) -> str | None:
    """The SHA-256 a content address names (`sha256/ab/<hex>`), or None for any other key."""
    match = _CONTENT_KEY.fullmatch(key)
    return match.group(2) if match else None


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    version: str | None = None


@dataclass(frozen=True)
class Leftover:
    """What a write killed midway leaves behind: a temp file, an unfinished multipart upload.

    `reason` says which kind, as the audit log records it: `partial_write` (`.incoming-*`),
    `swept_copy` (a `.sweep-*` copy whose object was written again), `ping_probe`,
    `unfinished_multipart_upload`, and the engine's `upload_spool`.
    """

    name: str  # where it is: a path, or `s3://bucket/key (…)`
    size: int
    modified: datetime  # its last write: a younger one may belong to a write still running
    reason: str


class ObjectStore:
    """What every backend offers. `archive=True` addresses the WORM area."""

    name = "abstract"

    def ping(self) -> None:
        """Raise ObjectStoreError saying exactly what is wrong when the store is unusable."""
        raise NotImplementedError

    def stat(self, key: str, *, archive: bool = False) -> ObjectInfo | None:
        """Size and time of an object, or None when absent."""
        raise NotImplementedError

    def put(
        self,
        key: str,
        source: BinaryIO,
        size: int,
        *,
        content_type: str = "application/octet-stream",
        archive: bool = False,
        retain_until: datetime | None = None,
        replace: bool = False,
    ) -> None:
        """Store `size` bytes read from `source` under `key`.

        An intact existing object is left as it is (its time refreshed); a damaged one (size
        or SHA-256 not the key's) is rewritten, as with `replace`. Raises DamagedArchiveError
        when a damaged object is in the archive area (WORM), ObjectStoreError.
        """
        raise NotImplementedError

    def open(self, key: str, *, archive: bool = False) -> Iterator[bytes]:
        """The object's bytes in chunks; raises ObjectMissingError."""
        raise NotImplementedError

    def delete(self, key: str, *, archive: bool = False) -> None:
        """Remove an object; raises RetainedObjectError while it is under retention."""
        raise NotImplementedError

    def list_objects(self, *, archive: bool = False) -> Iterator[ObjectInfo]:
        """Every object, in key order."""
        raise NotImplementedError

    def delete_if_stale(self, key: str, cutoff: datetime) -> bool:
        """Delete a main-area object not written or touched since `cutoff`; True if deleted.

        A concurrent `put` of the same content either touches the object first (it is then
        spared) or finds it gone and writes it again: an upload never ends up referencing a
        swept object.
        """
        raise NotImplementedError

    def clear_leftovers(self, cutoff: datetime, *, dry_run: bool = False) -> Iterator[Leftover]:
        """Remove what writes killed midway left behind, untouched since `cutoff`, yielding each
        once it is gone (removing nothing when `dry_run`), so a caller keeps the record of
        every removal made before a failure. Raises ObjectStoreError."""
        return iter(())


class LocalObjectStore(ObjectStore):
    """Objects as files under a root directory; written via a temp file and an atomic rename."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str, archive: bool) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"bad object key {key!r}")
        return self.root / ("archive" if archive else "objects") / key

    def ping(self) -> None:
        """Check the root exists and is writable; raises ObjectStoreError otherwise."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=_PING_PREFIX)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise ObjectStoreError(
                f"Kho tệp {self.root} không ghi được / the object store at {self.root} "
                f"is not writable: {e.strerror}"
            ) from e

    def stat(self, key: str, *, archive: bool = False) -> ObjectInfo | None:
        """Size and time of an object, or None when absent."""
        try:
            st = self._path(key, archive).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def put(
        self,
        key: str,
        source: BinaryIO,
        size: int,
        *,
        content_type: str = "application/octet-stream",
        archive: bool = False,
        retain_until: datetime | None = None,
        replace: bool = False,
    ) -> None:
        """Write via a temp file, fsync, rename: a crash never leaves a partial object.

        An existing object is kept only if intact; a damaged one is replaced by these bytes.
        Raises DamagedArchiveError for a damaged archived object, ObjectStoreError.
        """
        path = self._path(key, archive)
        if not replace and _intact(path, key, size, archive):
            try:
                os.utime(path)  # a fresh mtime keeps the sweeper away until our row commits
                present = True
            except FileNotFoundError:
                present = False  # swept a moment ago: write it again
            except PermissionError:
                present = True  # archived (read-only): it stays anyway
            if present:
                if archive and retain_until is not None:
                    _extend_retention(path, retain_until)
                return
        make_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_INCOMING_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = size
                while remaining > 0:
                    chunk = source.read(min(CHUNK, remaining))
                    if not chunk:
                        raise ObjectStoreError(f"source ended {remaining} bytes early for {key}")
                    out.write(chunk)
                    remaining -= len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            # The rename lives in the directory: until that is synced, a power cut may
            # lose the object whose row the caller is about to commit.
            fsync_dir(path.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if archive:
            path.chmod(0o444)
            if retain_until is not None:
                _write_retention(path, retain_until)

    def open(self, key: str, *, archive: bool = False) -> Iterator[bytes]:
        """The object's bytes in chunks; raises ObjectMissingError."""
        path = self._path(key, archive)
        try:
            handle = path.open("rb")
        except FileNotFoundError as e:
            raise ObjectMissingError(
                f"Thiếu đối tượng {key} trong kho / object {key} is missing from the store"
            ) from e
        return _chunks(handle)

    def delete(self, key: str, *, archive: bool = False) -> None:
        """Remove an object; raises RetainedObjectError while it is under retention."""
        path = self._path(key, archive)
        until = _retained_until(path)
        if until is not None and until > datetime.now(UTC):
            raise RetainedObjectError(
                f"Đối tượng {key} đang trong thời hạn lưu giữ đến {until:%d/%m/%Y} / "
                f"object {key} is under retention until {until.date()}; it cannot be deleted"
            )
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            _retention_file(path).unlink()

    def list_objects(self, *, archive: bool = False) -> Iterator[ObjectInfo]:
        """Every object, in key order (temp files of writes in progress are not objects)."""
        base = self.root / ("archive" if archive else "objects")
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".retention":
                st = path.stat()
                key = path.relative_to(base).as_posix()
                yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete_if_stale(self, key: str, cutoff: datetime) -> bool:
        """Move the object aside atomically, check it was not touched, then remove it."""
        path = self._path(key, False)
        aside = path.with_name(_SWEEP_PREFIX + path.name)
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        try:
            touched = datetime.fromtimestamp(aside.stat().st_mtime, UTC) > cutoff
        except FileNotFoundError:
            return False  # a concurrent `clear_leftovers` took it: it decides
        if touched:
            # Touched by an upload just before we moved it: put it back unless rewritten.
            if not path.exists():
                os.rename(aside, path)
            else:
                aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True

    def clear_leftovers(self, cutoff: datetime, *, dry_run: bool = False) -> Iterator[Leftover]:
        """Remove the temp files of writes (`.incoming-*`) and sweeps (`.sweep-*`) a crash left,
        untouched since `cutoff`, yielding each once removed. An object a sweep had moved aside
        and that was not written again is put back instead (not yielded): the sweep judges it
        again, so a crash never loses a file."""
        for path in sorted(self._temp_files()):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # finished (renamed or removed) since the listing
            modified = datetime.fromtimestamp(st.st_mtime, UTC)
            if modified > cutoff:
                continue  # maybe a write still running
            original = path.with_name(path.name.removeprefix(_SWEEP_PREFIX))
            if path.name.startswith(_SWEEP_PREFIX) and not original.exists():
                if not dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(path, original)
                continue
            if not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            yield Leftover(str(path), st.st_size, modified, _temp_reason(path.name))

    def _temp_files(self) -> Iterator[Path]:
        yield from self.root.glob(f"{_PING_PREFIX}*")
        for area in ("objects", "archive"):
            for prefix in (_INCOMING_PREFIX, _SWEEP_PREFIX):
                yield from (self.root / area).rglob(f"{prefix}*")


def _temp_reason(name: str) -> str:
    if name.startswith(_SWEEP_PREFIX):
        return "swept_copy"
    return "ping_probe" if name.startswith(_PING_PREFIX) else "partial_write"


def _intact(path: Path, key: str, size: int, archive: bool) -> bool:
    """True when `path` holds the object: its size, and the SHA-256 its content address names.

    A damaged main-area object is then rewritten by the caller; a damaged archived one cannot
    be (WORM): DamagedArchiveError. Re-hashing a local file is cheap next to an upload.
    """
    try:
        if path.stat().st_size == size:
            expected = content_sha256(key)
            with path.open("rb") as handle:
                if expected is None or _sha256(handle) == expected:
                    return True
    except FileNotFoundError:
        return False
    if archive:
        raise DamagedArchiveError(key)
    return False


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _extend_retention(path: Path, until: datetime) -> None:
    # Retention only ever grows: the longest record class sharing the content wins.
    current = _retained_until(path)
    if current is None or until > current:
        _write_retention(path, until)


def _write_retention(path: Path, until: datetime) -> None:
    # Atomic and synced like the object: a torn or lost sidecar would drop the retention.
    data = json.dumps({"retain_until": until.isoformat()}).encode()
    write_atomic(_retention_file(path), data, prefix=_INCOMING_PREFIX)


def _retention_file(path: Path) -> Path:
    return path.with_name(path.name + ".retention")


def _retained_until(path: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(_retention_file(path).read_text())["retain_until"])
    except FileNotFoundError:
        return None
