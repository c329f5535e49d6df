"""The object store contract, on the local directory and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.app import build_store
from api.settings import Settings
from storage.errors import ObjectStoreError
from storage.objects import (
    CHUNK,
    LocalObjectStore,
    ObjectMissingError,
    ObjectStore,
    RetainedObjectError,
    key_for,
)
from storage.s3 import S3ObjectStore
from tests.conftest import S3Buckets

MB = 1024 * 1024
# S3's Last-Modified has whole seconds: waits that must move an object's time are longer.
CLOCK_STEP = 1.1


def _key(data: bytes) -> str:
    return key_for(hashlib.sha256(data).hexdigest())


def _put(store: ObjectStore, data: bytes, **kwargs: object) -> str:
    key = _key(data)
    store.put(key, io.BytesIO(data), len(data), **kwargs)  # type: ignore[arg-type]
    return key


def _read(store: ObjectStore, key: str, *, archive: bool = False) -> bytes:
    return b"".join(store.open(key, archive=archive))


class _Unreadable(io.RawIOBase):
    """A source that must not be read: `put` of an existing key is a no-op."""

    def read(self, n: int = -1) -> bytes:
        raise AssertionError("put read the source of an object that already exists")


class _Pattern(io.RawIOBase):
    """`size` pseudo-random bytes produced on demand, hashed as they are read."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.digest = hashlib.sha256()
        self._counter = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n < 0 else min(n, self.remaining)
        out = bytearray()
        while len(out) < n:
            block = hashlib.sha512(self._counter.to_bytes(8, "big")).digest() * 64
            self._counter += 1
            out += block[: n - len(out)]
        self.remaining -= n
        self.digest.update(out)
        return bytes(out)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# -- round trips -----------------------------------------------------------------------


def test_put_stat_open_round_trip(object_store: ObjectStore) -> None:
    data = b"%PDF-1.4 to khai khai sinh\n"
    key = _put(object_store, data, content_type="application/pdf")
    info = object_store.stat(key)
    assert info is not None
    assert (info.key, info.size) == (key, len(data))
    assert abs(info.modified - datetime.now(UTC)) < timedelta(minutes=1)
    assert _read(object_store, key) == data


def test_20mb_object_streams_in_chunks_with_same_sha256(object_store: ObjectStore) -> None:
    size = 20 * MB
    expected = _Pattern(size)  # the content address needs the hash first: generate it twice
    while expected.read(4 * MB):
        pass
    key = key_for(expected.digest.hexdigest())
    object_store.put(key, _Pattern(size), size)  # type: ignore[arg-type]
    info = object_store.stat(key)
    assert info is not None and info.size == size
    digest = hashlib.sha256()
    chunks = 0
    for chunk in object_store.open(key):
        assert 0 < len(chunk) <= CHUNK
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == expected.digest.hexdigest()
    assert chunks >= size // CHUNK


def test_put_of_existing_key_is_a_no_op_that_keeps_the_sweeper_away(
    object_store: ObjectStore,
) -> None:
    data = b"noi dung goc"
    key = _put(object_store, data)
    time.sleep(CLOCK_STEP)
    cutoff = datetime.now(UTC)
    time.sleep(CLOCK_STEP)  # S3 times have whole seconds: the touch lands in a later one
    object_store.put(key, _Unreadable(), len(data))  # type: ignore[arg-type]
    assert object_store.delete_if_stale(key, cutoff) is False  # touched after the cutoff
    info = object_store.stat(key)
    assert info is not None and info.size == len(data)
    assert _read(object_store, key) == data
    assert [o.key for o in object_store.list_objects()] == [key]


def test_missing_key_raises_object_missing_and_stat_says_none(
    object_store: ObjectStore,
) -> None:
    key = _key(b"never stored")
    assert object_store.stat(key) is None
    with pytest.raises(ObjectMissingError) as info:
        object_store.open(key)
    assert key in info.value.message
    assert info.value.http_status == 410
    assert object_store.stat(key, archive=True) is None
    with pytest.raises(ObjectMissingError):
        object_store.open(key, archive=True)


def test_list_objects_lists_every_main_object_in_key_order(object_store: ObjectStore) -> None:
    contents = [f"van ban so {i}".encode() * (i + 1) for i in range(6)]
    keys = [_put(object_store, c) for c in contents]
    archived = _put(object_store, b"ho so luu tru", archive=True)
    listed = list(object_store.list_objects())
    assert [o.key for o in listed] == sorted(keys)
    sizes = {_key(c): len(c) for c in contents}
    assert {o.key: o.size for o in listed} == sizes
    assert [o.key for o in object_store.list_objects(archive=True)] == [archived]


def test_deleted_object_is_gone(object_store: ObjectStore) -> None:
    key = _put(object_store, b"xoa toi")
    object_store.delete(key)
    assert object_store.stat(key) is None
    with pytest.raises(ObjectMissingError):
        object_store.open(key)
    assert list(object_store.list_objects()) == []
    object_store.delete(key)  # deleting again is harmless


# -- the archive area (WORM) -----------------------------------------------------------


def test_archived_object_cannot_be_deleted_until_its_retention_ends(
    object_store: ObjectStore,
) -> None:
    data = b"quyet dinh luu tru vinh vien"
    retain_until = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    key = _put(object_store, data, archive=True, retain_until=retain_until)
    assert object_store.stat(key) is None  # the archive is a separate area
    with pytest.raises(RetainedObjectError) as info:
        object_store.delete(key, archive=True)
    assert key in info.value.message
    assert _read(object_store, key, archive=True) == data

    time.sleep(max(0.0, (retain_until - datetime.now(UTC)).total_seconds()) + 1.5)
    object_store.delete(key, archive=True)
    assert object_store.stat(key, archive=True) is None
    with pytest.raises(ObjectMissingError):
        object_store.open(key, archive=True)


def test_put_of_an_archived_key_keeps_the_object(object_store: ObjectStore) -> None:
    data = b"ban luu"
    retain_until = datetime.now(UTC) + timedelta(days=1)
    key = _put(object_store, data, archive=True, retain_until=retain_until)
    object_store.put(key, _Unreadable(), len(data), archive=True)  # type: ignore[arg-type]
    assert _read(object_store, key, archive=True) == data
    with pytest.raises(RetainedObjectError):
        object_store.delete(key, archive=True)


def test_local_retention_lives_in_a_sidecar_that_is_not_an_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    until = datetime.now(UTC) + timedelta(days=365)
    key = _put(store, b"giay khai sinh", archive=True, retain_until=until)
    path = tmp_path / "archive" / key
    sidecar = path.with_name(path.name + ".retention")
    assert sidecar.exists()
    assert oct(path.stat().st_mode & 0o777) == oct(0o444)
    assert [o.key for o in store.list_objects(archive=True)] == [key]
    with pytest.raises(RetainedObjectError):
        store.delete(key, archive=True)
    assert path.exists() and sidecar.exists()


# -- keys ------------------------------------------------------------------------------


def test_key_for_is_the_sha256_content_address() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert key_for(sha) == f"sha256/{sha[:2]}/{sha}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "g" * 64,
        "A" * 64,
        hashlib.sha256(b"x").hexdigest().upper(),
        hashlib.sha256(b"x").hexdigest()[:63],
        hashlib.sha256(b"x").hexdigest() + "0",
        "../" + "a" * 61,
        "a" * 63 + "/",
    ],
)
def test_key_for_rejects_anything_but_lowercase_hex_sha256(bad: str) -> None:
    with pytest.raises(ValueError):
        key_for(bad)


@pytest.mark.parametrize(
    "key", ["../outside", "sha256/../../etc/passwd", "/etc/passwd", "sha256/ab/.."]
)
def test_local_store_refuses_keys_that_escape_its_root(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path / "store")
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"), 1)
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.stat(key)
    with pytest.raises(ValueError):
        store.delete(key)
    assert not (tmp_path / "outside").exists()


def test_local_put_from_a_short_source_leaves_no_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    key = _key(b"12345678")
    with pytest.raises(ObjectStoreError):
        store.put(key, io.BytesIO(b"1234"), 8)
    assert store.stat(key) is None
    leftovers = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert leftovers == []


# -- the sweeper's delete --------------------------------------------------------------


def test_delete_if_stale_deletes_an_object_older_than_the_cutoff(
    object_store: ObjectStore,
) -> None:
    key = _put(object_store, b"mo coi")
    cutoff = datetime.now(UTC) + timedelta(hours=1)
    assert object_store.delete_if_stale(key, cutoff) is True
    assert object_store.stat(key) is None
    with pytest.raises(ObjectMissingError):
        object_store.open(key)
    assert object_store.delete_if_stale(key, cutoff) is False  # already gone


def test_delete_if_stale_spares_an_object_touched_after_the_cutoff(
    object_store: ObjectStore,
) -> None:
    # The race with an upload: the sweeper has judged the object stale (cutoff taken), then
    # an upload of the same content touches it, then the sweeper tries to delete it.
    data = b"tai len dong thoi"
    key = _put(object_store, data)
    time.sleep(CLOCK_STEP)
    cutoff = datetime.now(UTC)
    time.sleep(CLOCK_STEP)  # S3 times have whole seconds: the touch lands in a later one
    _put(object_store, data)
    assert object_store.delete_if_stale(key, cutoff) is False
    assert _read(object_store, key) == data
    assert [o.key for o in object_store.list_objects()] == [key]


def test_delete_if_stale_removes_an_orphan_that_was_touched_earlier(
    object_store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    # Two uploads of the same content that both rolled back: written, then touched.
    data = b"hai lan tai len, hai lan huy"
    key = _put(object_store, data)
    _put(object_store, data)
    assert object_store.delete_if_stale(key, datetime.now(UTC) + timedelta(hours=1)) is True
    assert object_store.stat(key) is None
    assert list(object_store.list_objects()) == []


def test_s3_delete_if_stale_spares_a_touch_in_the_same_second_as_the_cutoff(
    s3_buckets: S3Buckets,
) -> None:
    object_store = _s3_store(s3_buckets)
    data = b"cham trong cung mot giay"
    key = _put(object_store, data)
    while datetime.now(UTC).microsecond > 300_000:  # leave the rest of a second for the touch
        time.sleep(0.05)
    cutoff = datetime.now(UTC)
    _put(object_store, data)
    assert object_store.delete_if_stale(key, cutoff) is False


def test_s3_delete_if_stale_on_an_unreachable_server_raises_object_store_error() -> None:
    store = S3ObjectStore(
        f"127.0.0.1:{_closed_port()}",
        "key",
        "secret",
        "lienthong",
        secure=False,
        region="us-east-1",
    )
    with pytest.raises(ObjectStoreError, match="cannot reach S3"):
        store.delete_if_stale(_key(b"x"), datetime.now(UTC))


def _s3_store(buckets: S3Buckets) -> ObjectStore:
    return build_store(Settings(**buckets.settings()))  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_local_delete_if_stale_uses_the_file_time(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    key = _put(store, b"cu")
    path = tmp_path / "objects" / key
    old = time.time() - 3 * 3600
    os.utime(path, (old, old))
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert store.delete_if_stale(key, cutoff) is True
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == []  # no `.sweep-` leftover
