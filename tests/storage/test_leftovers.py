"""What uploads killed midway leave behind, and the sweep that removes it once it is old:
spool files, the local store's temp files, unfinished S3 multipart uploads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import InvalidInputError
from engine.files import spool
from engine.storage_sweep import sweep_leftovers
from storage.models import utcnow
from storage.objects import Leftover, LocalObjectStore, ObjectStore, key_for
from tests.conftest import REPO, S3Buckets

GRACE = timedelta(hours=1)
OLD = 3 * 3600  # seconds: older than GRACE


def _age(path: Path, seconds: float = OLD) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _spooled(tmp_dir: Path, data: bytes) -> Path:
    """A spool file as an upload killed before its request ended leaves it."""
    return spool([data], limit=1 << 20, tmp_dir=tmp_dir).path


def _key(data: bytes) -> str:
    return key_for(hashlib.sha256(data).hexdigest())


def _names(found: Iterable[Leftover]) -> set[str]:
    return {item.name for item in found}


def test_upload_killed_midway_leaves_a_spool_file_that_the_sweep_removes_once_old(
    sessions: sessionmaker[Session],
    db_url: str,
    object_store: ObjectStore,
    store_settings: dict[str, object],
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.storage.crash_upload",
            db_url,
            str(data_dir),
            json.dumps(store_settings),
            b"%PDF-1.4 mat dien".hex(),
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
        | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    [left] = (data_dir / "tmp").glob("upload-*")

    spool_dir = data_dir / "tmp"
    assert sweep_leftovers(sessions, object_store, spool_dir, grace=GRACE) == []  # maybe running
    assert left.exists()
    later = utcnow() + 2 * GRACE
    [found] = sweep_leftovers(sessions, object_store, spool_dir, grace=GRACE, now=later)
    assert (found.name, found.size) == (str(left), len(b"%PDF-1.4 mat dien"))
    assert not left.exists()


def test_sweep_removes_old_spool_files_and_keeps_young_ones_on_each_store(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    tmp_dir = tmp_path / "spool"
    old = _age(_spooled(tmp_dir, b"tai len bi ngat"))
    young = _spooled(tmp_dir, b"tai len dang chay")
    other = tmp_dir / "ghi-chu.txt"  # not a spool file: not ours to remove
    other.write_text("x")
    _age(other)

    dry = sweep_leftovers(sessions, object_store, tmp_dir, grace=GRACE, dry_run=True)
    assert [(f.name, f.size) for f in dry] == [(str(old), len(b"tai len bi ngat"))]
    assert old.exists()

    assert sweep_leftovers(sessions, object_store, tmp_dir, grace=GRACE) == dry
    assert not old.exists()
    assert young.exists() and other.exists()


def test_sweep_refuses_a_grace_under_one_hour_and_removes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    old = _age(_spooled(tmp_path / "spool", b"x"), 120)
    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(InvalidInputError, match="outside 1 to 100000 hours"):
        sweep_leftovers(sessions, store, old.parent, grace=timedelta(0))
    assert old.exists()


# -- the local store's temp files ------------------------------------------------------


def _temp(store: LocalObjectStore, area: str, name: str, data: bytes = b"phan dau") -> Path:
    path = store.root / area / "sha256" / "ab" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_local_store_removes_old_partial_writes_and_keeps_young_ones(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    data = b"doi tuong that"
    key = _key(data)
    store.put(key, io.BytesIO(data), len(data))  # a real object next to the temp files
    old = [
        _age(_temp(store, "objects", ".incoming-k1l2m3", b"x" * 100)),
        _age(_temp(store, "archive", ".incoming-n4o5p6", b"y" * 50)),
    ]
    young = _temp(store, "objects", ".incoming-q7r8s9")

    dry = list(store.clear_leftovers(datetime.now(UTC) - GRACE, dry_run=True))
    assert _names(dry) == {str(p) for p in old} and sum(f.size for f in dry) == 150
    assert all(p.exists() for p in old)

    assert _names(store.clear_leftovers(datetime.now(UTC) - GRACE)) == {str(p) for p in old}
    assert not any(p.exists() for p in old)
    assert young.exists()
    assert [o.key for o in store.list_objects()] == [key]
    assert b"".join(store.open(key)) == data


def test_local_store_puts_back_an_object_a_killed_sweep_had_moved_aside(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    moved, rewritten = _key(b"bi bo do"), _key(b"da ghi lai")
    for key, data in ((moved, b"bi bo do"), (rewritten, b"da ghi lai")):
        store.put(key, io.BytesIO(data), len(data))
    # A sweep killed between its rename and its removal: one object was since written again.
    for key in (moved, rewritten):
        path = store.root / "objects" / key
        _age(path)
        os.rename(path, path.with_name(".sweep-" + path.name))
    rewritten_path = store.root / "objects" / rewritten
    rewritten_path.write_bytes(b"da ghi lai")

    [gone] = store.clear_leftovers(datetime.now(UTC) - GRACE)
    assert gone.name == str(rewritten_path.with_name(".sweep-" + rewritten_path.name))
    assert sorted(o.key for o in store.list_objects()) == sorted([moved, rewritten])
    assert b"".join(store.open(moved)) == b"bi bo do"  # back: the orphan sweep judges it again
    assert list((store.root / "objects").rglob(".sweep-*")) == []


# -- unfinished multipart uploads on S3 ------------------------------------------------


def _unfinished(buckets: S3Buckets, bucket: str, key: str, part: bytes) -> str:
    """A multipart upload with one part sent and never completed, as a killed put_object
    leaves it (the SDK's own calls for the steps of its `put_object`)."""
    client = buckets.server.client()
    upload_id = client._create_multipart_upload(bucket, key, {})
    client._upload_part(bucket, key, part, None, upload_id, 1)
    return upload_id


def _pending(buckets: S3Buckets, bucket: str) -> list[str]:
    result = buckets.server.client()._list_multipart_uploads(bucket)
    return sorted(u.object_name for u in result.uploads)


def test_s3_aborts_unfinished_multipart_uploads_once_old_in_both_buckets(
    s3_buckets: S3Buckets,
) -> None:
    store = s3_buckets.store()
    main, archive = s3_buckets.bucket, s3_buckets.archive
    part = b"p" * (5 * 1024 * 1024)
    _unfinished(s3_buckets, main, "sha256/aa/cu", part)
    _unfinished(s3_buckets, archive, "sha256/bb/cu", part)
    time.sleep(1.5)  # S3 times have whole seconds
    between = datetime.now(UTC)
    time.sleep(1.0)
    _unfinished(s3_buckets, main, "sha256/cc/moi", b"moi")

    dry = list(store.clear_leftovers(between, dry_run=True))
    assert _names(dry) == {
        f"s3://{main}/sha256/aa/cu (unfinished multipart upload)",
        f"s3://{archive}/sha256/bb/cu (unfinished multipart upload)",
    }
    assert [f.size for f in dry] == [len(part), len(part)]
    assert _pending(s3_buckets, main) == ["sha256/aa/cu", "sha256/cc/moi"]

    assert list(store.clear_leftovers(between)) == dry
    assert _pending(s3_buckets, main) == ["sha256/cc/moi"]  # young: maybe still sending
    assert _pending(s3_buckets, archive) == []
    assert list(store.clear_leftovers(datetime.now(UTC) - GRACE)) == []


def test_s3_sweep_with_no_unfinished_uploads_finds_nothing(
    sessions: sessionmaker[Session], s3_buckets: S3Buckets, tmp_path: Path
) -> None:
    store = s3_buckets.store()
    store.put(_key(b"x"), io.BytesIO(b"x"), 1)  # a whole object is not a leftover
    later = utcnow() + 2 * GRACE
    assert sweep_leftovers(sessions, store, tmp_path, grace=GRACE, now=later) == []
