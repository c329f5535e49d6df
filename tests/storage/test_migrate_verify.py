"""`storage migrate` checks both ends: a corrupt source is never copied (an archived copy
could not be removed again), and a copy that does not verify is deleted, not left behind."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.files import FileView, spool, store_file
from engine.storage_migrate import migrate_store
from storage.models import User
from storage.objects import LocalObjectStore, key_for
from storage.s3 import S3ObjectStore
from tests.conftest import S3Buckets

GOOD = b"%PDF-1.4 ban goc" * 100


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "local")


def _upload(
    sessions: sessionmaker[Session], store: LocalObjectStore, tmp_path: Path, **kwargs: object
) -> FileView:
    with sessions.begin() as s:
        user_id = s.scalar(select(User.id).where(User.username == "chuyenvien"))
        assert user_id is not None
        spooled = spool([GOOD], limit=1 << 20, tmp_dir=tmp_path / "spool")
        return store_file(s, store, spooled, "goc.pdf", principal_for(s, user_id), **kwargs)  # type: ignore[arg-type]


def _corrupt(store: LocalObjectStore, view: FileView, *, archive: bool = False) -> str:
    """Flip a byte of the stored object, as a disk fault would; returns the bad SHA-256."""
    path = store.root / ("archive" if archive else "objects") / key_for(view.sha256)
    bad = bytearray(path.read_bytes())
    bad[10] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(bad))
    return hashlib.sha256(bad).hexdigest()


def _bucket_keys(buckets: S3Buckets, bucket: str) -> list[str]:
    client = buckets.server.client()
    return [o.object_name or "" for o in client.list_objects(bucket, recursive=True)]


@pytest.mark.parametrize("archived", [False, True], ids=["main", "archived"])
def test_migrate_refuses_a_corrupt_source_and_writes_nothing_to_s3(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
    archived: bool,
) -> None:
    kwargs = {"record_class": "10y"} if archived else {}
    view = _upload(sessions, local_store, tmp_path, **kwargs)
    got = _corrupt(local_store, view, archive=archived)
    key = key_for(view.sha256)

    report = migrate_store(sessions, local_store, s3_buckets.store())
    assert (report.total, report.copied, report.already_there) == (1, 0, 0)
    [failure] = report.failed
    assert f"source object {key} is corrupt: expected sha256 {view.sha256}, got {got}" in failure
    assert "Đối tượng nguồn" in failure  # Vietnamese too
    assert _bucket_keys(s3_buckets, s3_buckets.bucket) == []
    assert _bucket_keys(s3_buckets, s3_buckets.archive) == []


class _Garbling(S3ObjectStore):
    """A target that stores other bytes than it was given (a faulty disk or proxy)."""

    def put(self, key: str, source: BinaryIO, size: int, **kwargs: object) -> None:  # type: ignore[override]
        data = bytearray(source.read(size))
        data[0] ^= 0xFF
        super().put(key, io.BytesIO(bytes(data)), size, **kwargs)  # type: ignore[arg-type]


def test_migrate_deletes_a_copy_that_does_not_verify(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    view = _upload(sessions, local_store, tmp_path)
    target = s3_buckets.store(_Garbling)
    report = migrate_store(sessions, local_store, target)
    assert (report.copied, report.already_there) == (0, 0)
    [failure] = report.failed
    assert f"the copy of {key_for(view.sha256)} on s3 does not verify, so it was deleted" in failure
    assert _bucket_keys(s3_buckets, s3_buckets.bucket) == []
    client = s3_buckets.server.client()
    versions = client.list_objects(s3_buckets.bucket, recursive=True, include_version=True)
    assert list(versions) == []  # no version of the bad bytes kept either

    fixed = migrate_store(sessions, local_store, s3_buckets.store())  # run again
    assert (fixed.copied, fixed.failed) == (1, [])


def test_migrate_names_an_archived_copy_that_does_not_verify(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    view = _upload(sessions, local_store, tmp_path, record_class="10y")
    report = migrate_store(sessions, local_store, s3_buckets.store(_Garbling))
    [failure] = report.failed
    assert f"the archived copy of {key_for(view.sha256)} on s3 does not verify" in failure
    assert "WORM" in failure
