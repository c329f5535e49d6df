"""Every removal `storage sweep` makes is in the audit log: each orphan object and each crash
leftover (spool file, partial write, swept copy, unfinished multipart upload) with where it
was, its size, why it went and when, those removed before a failure included."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.storage_sweep import sweep, sweep_leftovers
from storage.errors import ObjectStoreError
from storage.models import AuditEvent, utcnow
from storage.objects import LocalObjectStore, ObjectStore, key_for
from storage.s3 import S3ObjectStore
from tests.conftest import S3Buckets
from tests.storage.test_leftovers import GRACE, _age, _spooled, _temp, _unfinished


def _removed(sessions: sessionmaker[Session], action: str) -> list[dict[str, Any]]:
    """The removals the audit events of `action` list, in order."""
    with sessions.begin() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by("id"))
        found = []
        for event in events:
            assert (event.object_type, event.actor_id) == ("object_store", None)
            assert event.details["grace_hours"] == GRACE.total_seconds() / 3600
            found += event.details["removed"]
    return found


def _when(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()


def test_sweep_audits_each_removed_spool_file_with_its_size_and_reason_on_each_store(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    tmp_dir = tmp_path / "spool"
    old = _age(_spooled(tmp_dir, b"tai len bi ngat giua chung"))
    young = _spooled(tmp_dir, b"tai len dang chay")
    modified = _when(old)

    sweep_leftovers(sessions, object_store, tmp_dir, grace=GRACE, dry_run=True)
    assert _removed(sessions, "sweep_leftovers") == []  # a dry run removes nothing

    sweep_leftovers(sessions, object_store, tmp_dir, grace=GRACE)
    assert _removed(sessions, "sweep_leftovers") == [
        {"name": str(old), "size": 26, "modified": modified, "reason": "upload_spool"}
    ]
    assert young.exists()
    sweep_leftovers(sessions, object_store, tmp_dir, grace=GRACE)  # nothing left: no event
    assert len(_removed(sessions, "sweep_leftovers")) == 1


def test_sweep_audits_the_local_stores_partial_writes_and_swept_copies(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    partial = _age(_temp(store, "archive", ".incoming-k1l2m3", b"x" * 100))
    data = b"da ghi lai sau khi bi bo do"
    key = key_for(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data))
    # A sweep killed after moving the object aside, which an upload has written again since.
    copy = (store.root / "objects" / key).with_name(".sweep-" + key.rpartition("/")[2])
    copy.write_bytes(data)
    _age(copy)

    sweep_leftovers(sessions, store, tmp_path / "spool", grace=GRACE)
    removed = sorted(_removed(sessions, "sweep_leftovers"), key=lambda e: e["reason"])
    assert [(e["name"], e["size"], e["reason"]) for e in removed] == [
        (str(partial), 100, "partial_write"),
        (str(copy), len(data), "swept_copy"),
    ]
    assert b"".join(store.open(key)) == data


def test_sweep_audits_an_aborted_multipart_upload(
    sessions: sessionmaker[Session], s3_buckets: S3Buckets, tmp_path: Path
) -> None:
    _unfinished(s3_buckets, s3_buckets.bucket, "sha256/aa/bi-ngat", b"phan dau")
    later = utcnow() + 2 * GRACE
    sweep_leftovers(sessions, s3_buckets.store(), tmp_path, grace=GRACE, now=later)
    [entry] = _removed(sessions, "sweep_leftovers")
    name = f"s3://{s3_buckets.bucket}/sha256/aa/bi-ngat (unfinished multipart upload)"
    assert (entry["name"], entry["size"]) == (name, len(b"phan dau"))
    assert entry["reason"] == "unfinished_multipart_upload"
    assert datetime.fromisoformat(entry["modified"]) <= datetime.now(UTC)


def test_spool_files_removed_before_the_store_fails_are_still_audited(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    unreachable = S3ObjectStore(
        f"127.0.0.1:{closed}", "key", "secret", "lienthong", secure=False, region="us-east-1"
    )
    old = _age(_spooled(tmp_path / "spool", b"da xoa truoc khi loi"))
    with pytest.raises(ObjectStoreError, match="cannot reach S3"):
        sweep_leftovers(sessions, unreachable, old.parent, grace=GRACE)
    assert not old.exists()
    [entry] = _removed(sessions, "sweep_leftovers")
    assert (entry["name"], entry["reason"]) == (str(old), "upload_spool")


def test_a_sweep_of_more_orphans_than_one_event_holds_audits_every_one(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    keys = []
    for i in range(1001):  # one more than an audit event lists
        data = f"mo coi {i}".encode()
        keys.append(key_for(hashlib.sha256(data).hexdigest()))
        store.put(keys[-1], io.BytesIO(data), len(data))
        os.utime(store.root / "objects" / keys[-1], (time.time() - 3 * 3600,) * 2)
    removed = sweep(sessions, store, grace=GRACE)
    assert sorted(removed) == sorted(keys)
    entries = _removed(sessions, "sweep")
    assert sorted(e["key"] for e in entries) == sorted(keys)
    assert {e["reason"] for e in entries} == {"unreferenced"}
