"""Copying every object a row needs from one store to another (`storage migrate --to s3`),
verified on both sides; safe to run again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from engine.fixity import Progress
from engine.storage_references import Stored, digest, referenced_objects
from storage.errors import StorageError
from storage.objects import ObjectMissingError, ObjectStore

__all__ = ["MigrateReport", "migrate_store"]


@dataclass
class MigrateReport:
    total: int = 0
    copied: int = 0
    already_there: int = 0
    failed: list[str] = field(default_factory=list)


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
    objects = referenced_objects(factory)
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


def _verify_source(source: ObjectStore, obj: Stored) -> None:
    """Raise StorageError when the source's bytes are not what the rows expect."""
    size, sha256 = digest(source, obj.key, obj.archived)
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


def _verify_copy(target: ObjectStore, obj: Stored) -> None:
    """Re-read the copy; raise StorageError when it does not verify, deleting it first from
    the main area (an archived copy stays: retention forbids deleting it)."""
    if obj.matches(digest(target, obj.key, obj.archived)):
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


def _present(store: ObjectStore, obj: Stored) -> bool:
    info = store.stat(obj.key, archive=obj.archived)
    return (
        info is not None
        and obj.size in (None, info.size)
        and obj.matches(digest(store, obj.key, obj.archived))
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


def _copy(source: ObjectStore, target: ObjectStore, obj: Stored) -> None:
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
