"""A local object is on disk, name included, before its row can commit."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.objects import LocalObjectStore, key_for


def _synced(monkeypatch: pytest.MonkeyPatch, *, files: bool = False) -> list[tuple[int, int]]:
    # A spy on the OS call, not on our code: which directories (and files) were fsynced.
    synced: list[tuple[int, int]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if files or stat.S_ISDIR(st.st_mode):
            synced.append((st.st_dev, st.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_dev, st.st_ino)


def test_a_put_syncs_the_directory_entry_of_the_object_and_of_new_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "store")
    data = b"giay khai sinh"
    key = key_for(hashlib.sha256(data).hexdigest())
    synced = _synced(monkeypatch)

    store.put(key, io.BytesIO(data), len(data))

    path = tmp_path / "store" / "objects" / key
    assert path.read_bytes() == data
    # The rename into sha256/ab/ and each directory made on the way (the root, objects/,
    # sha256/, sha256/ab/) are synced into their parents: a power cut cannot lose the name.
    for directory in path.parents[:4]:
        assert _identity(directory) in synced, directory


def test_a_second_object_in_the_same_prefix_still_syncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path)
    first, second = b"ab-1", b"ab-2"
    store.put(key_for(hashlib.sha256(first).hexdigest()), io.BytesIO(first), len(first))
    synced = _synced(monkeypatch)
    key = key_for(hashlib.sha256(second).hexdigest())

    store.put(key, io.BytesIO(second), len(second))

    assert _identity((tmp_path / "objects" / key).parent) in synced


def test_an_archived_objects_retention_is_written_whole_and_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path)
    data = b"quyet dinh luu tru"
    key = key_for(hashlib.sha256(data).hexdigest())
    until = datetime.now(UTC) + timedelta(days=3650)
    synced = _synced(monkeypatch, files=True)

    store.put(key, io.BytesIO(data), len(data), archive=True, retain_until=until)

    sidecar = tmp_path / "archive" / (key + ".retention")
    assert json.loads(sidecar.read_text()) == {"retain_until": until.isoformat()}
    # Written to a temp file, synced and renamed (the rename synced too), as objects are:
    # a power cut leaves the old retention or the new one, never a torn or missing one.
    assert _identity(sidecar) in synced
    assert _identity(sidecar.parent) in synced
    assert [p.name for p in sidecar.parent.iterdir() if p.name.startswith(".")] == []
