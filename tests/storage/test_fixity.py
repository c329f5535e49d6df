"""Fixity check, orphan sweep, crash consistency and migration, on each database and store."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from minio.error import S3Error
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.files import FileView, soft_delete, spool, store_file
from engine.fixity import check_store
from engine.principal import Principal
from engine.storage_migrate import migrate_store
from engine.storage_sweep import sweep
from storage.models import (
    AuditEvent,
    StoredFile,
    User,
    utcnow,
)
from storage.objects import LocalObjectStore, ObjectStore, RetainedObjectError, key_for
from tests.conftest import REPO, S3Buckets
from tests.storage.conftest import Tamper, add_object_references

LIMIT = 1 << 20
GRACE = timedelta(hours=1)
CRASH_TIMEOUT = 120


def _me(s: Session, username: str = "chuyenvien") -> Principal:
    user_id = s.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return principal_for(s, user_id)


def _upload(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    tmp_path: Path,
    data: bytes,
    name: str = "to-khai.pdf",
    **kwargs: object,
) -> FileView:
    with sessions.begin() as s:
        spooled = spool([data], limit=LIMIT, tmp_dir=tmp_path / "spool")
        return store_file(s, store, spooled, name, _me(s), **kwargs)  # type: ignore[arg-type]


def _put_orphan(store: ObjectStore, data: bytes, *, archive: bool = False) -> str:
    key = key_for(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data), archive=archive)
    return key


def _read(store: ObjectStore, key: str, *, archive: bool = False) -> bytes:
    return b"".join(store.open(key, archive=archive))


def _rows(sessions: sessionmaker[Session]) -> list[StoredFile]:
    with sessions.begin() as s:
        return list(s.scalars(select(StoredFile).order_by(StoredFile.created_at)))


def _audits(sessions: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with sessions.begin() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _flipped(data: bytes) -> bytes:
    """Same length, one byte different: only the hash can tell."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# -- fixity check ----------------------------------------------------------------------


def test_check_of_intact_store_is_healthy_and_marks_every_row_verified(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    started = utcnow()
    _upload(sessions, object_store, tmp_path, b"%PDF-1.4 don 1", "don.pdf")
    _upload(sessions, object_store, tmp_path, b"%PDF-1.4 chung", "a.pdf")
    _upload(sessions, object_store, tmp_path, b"%PDF-1.4 chung", "b.pdf")  # same content
    _upload(sessions, object_store, tmp_path, b"ho so luu", "luu.pdf", record_class="10y")
    calls: list[tuple[int, int]] = []
    report = check_store(sessions, object_store, lambda done, total: calls.append((done, total)))
    assert (report.checked, report.ok, report.missing, report.corrupt) == (3, 3, [], [])
    assert report.healthy
    assert calls == [(1, 3), (2, 3), (3, 3)]
    rows = _rows(sessions)
    assert len(rows) == 4
    assert all(r.verified_at is not None and r.verified_at >= started for r in rows)
    assert _audits(sessions, "fixity_missing") == _audits(sessions, "fixity_corrupt") == []


def test_check_reports_and_audits_an_object_deleted_behind_our_back(
    sessions: sessionmaker[Session],
    object_store: ObjectStore,
    tamper: Tamper,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    gone = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 se mat", "mat.pdf")
    kept = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 con lai", "con.pdf")
    gone_key = key_for(gone.sha256)
    tamper.remove(gone_key)
    report = check_store(sessions, object_store)
    assert (report.checked, report.ok, report.missing, report.corrupt) == (2, 1, [gone_key], [])
    assert not report.healthy
    events = _audits(sessions, "fixity_missing")
    assert [(e.object_type, e.object_id, e.actor_id) for e in events] == [
        ("object", gone_key, None)
    ]
    verified = {r.id: r.verified_at for r in _rows(sessions)}
    assert verified[gone.id] is None
    assert verified[kept.id] is not None


def test_check_reports_and_audits_an_object_overwritten_with_other_bytes(
    sessions: sessionmaker[Session],
    object_store: ObjectStore,
    tamper: Tamper,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    data = b"%PDF-1.4 quyet dinh so 12/QD-UBND"
    bad = _upload(sessions, object_store, tmp_path, data, "qd.pdf")
    twin = _upload(sessions, object_store, tmp_path, data, "qd-ban-sao.pdf")
    good = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 nguyen ven", "ok.pdf")
    bad_key = key_for(bad.sha256)
    tamper.overwrite(bad_key, _flipped(data))
    report = check_store(sessions, object_store)
    assert (report.checked, report.ok, report.missing, report.corrupt) == (2, 1, [], [bad_key])
    events = _audits(sessions, "fixity_corrupt")
    assert [(e.object_type, e.object_id) for e in events] == [("object", bad_key)]
    assert _audits(sessions, "fixity_missing") == []
    verified = {r.id: r.verified_at for r in _rows(sessions)}
    assert verified[bad.id] is None and verified[twin.id] is None
    assert verified[good.id] is not None


# -- sweep -----------------------------------------------------------------------------


def test_sweep_removes_an_orphan_only_once_it_is_older_than_the_grace(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    live = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 dang dung", "dung.pdf")
    deleted = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 xoa mem", "xoa.pdf")
    with sessions.begin() as s:
        soft_delete(s, deleted.id, _me(s), "nham ho so")
    orphan = _put_orphan(object_store, b"khong ai tham chieu")

    assert sweep(sessions, object_store, grace=GRACE) == []  # young: maybe a running upload
    assert object_store.stat(orphan) is not None
    assert _audits(sessions, "sweep") == []

    later = utcnow() + 2 * GRACE
    assert sweep(sessions, object_store, grace=GRACE, now=later) == [orphan]
    assert object_store.stat(orphan) is None
    assert _read(object_store, key_for(live.sha256)) == b"%PDF-1.4 dang dung"
    assert _read(object_store, key_for(deleted.sha256)) == b"%PDF-1.4 xoa mem"
    [event] = _audits(sessions, "sweep")
    [entry] = event.details["removed"]
    assert (entry["key"], entry["size"]) == (orphan, len(b"khong ai tham chieu"))
    assert entry["reason"] == "unreferenced" and event.details["grace_hours"] == 1
    assert sweep(sessions, object_store, grace=GRACE, now=later) == []


def test_sweep_keeps_evidence_packages_and_prepared_signatures(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    # The raw packages of the exchange evidence log and the PDFs prepared for an external
    # signature are not files, but rows still need their bytes.
    package = _put_orphan(object_store, b"<edXMLEnvelope>goi tin da nhan</edXMLEnvelope>")
    prepared = _put_orphan(object_store, b"%PDF-1.7 cho chu ky ngoai")
    orphan = _put_orphan(object_store, b"khong ai tham chieu nua")
    source = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 ban goc", "goc.pdf")
    with sessions.begin() as s:
        me = _me(s)
        add_object_references(
            s, package=package, prepared=prepared, file_id=source.id, user_id=me.user_id,
            sha256="0" * 64, size=1,
        )  # fmt: skip
    later = utcnow() + 2 * GRACE
    assert sweep(sessions, object_store, grace=GRACE, now=later) == [orphan]
    assert _read(object_store, package).startswith(b"<edXMLEnvelope>")
    assert _read(object_store, prepared).startswith(b"%PDF-1.7")


def test_sweep_dry_run_lists_the_orphans_and_deletes_nothing(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    live = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 giu lai", "giu.pdf")
    orphans = sorted(_put_orphan(object_store, f"mo coi {i}".encode()) for i in range(3))
    later = utcnow() + 2 * GRACE
    assert sweep(sessions, object_store, grace=GRACE, now=later, dry_run=True) == orphans
    assert sorted(o.key for o in object_store.list_objects()) == sorted(
        [*orphans, key_for(live.sha256)]
    )
    assert _audits(sessions, "sweep") == []


def test_sweep_never_touches_the_archive_area(
    sessions: sessionmaker[Session], object_store: ObjectStore, tmp_path: Path
) -> None:
    kept = _upload(sessions, object_store, tmp_path, b"ho so 5 nam", "5y.pdf", record_class="5y")
    unreferenced = _put_orphan(object_store, b"luu tru khong co dong", archive=True)
    later = utcnow() + timedelta(days=3650)
    assert sweep(sessions, object_store, grace=GRACE, now=later) == []
    assert _read(object_store, unreferenced, archive=True) == b"luu tru khong co dong"
    assert _read(object_store, key_for(kept.sha256), archive=True) == b"ho so 5 nam"


# -- crash consistency -----------------------------------------------------------------


def _crash_env() -> dict[str, str]:
    # Only what the script is given: no LIENTHONG_* settings inherited from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_upload_killed_before_commit_leaves_only_an_orphan_that_sweep_removes(
    sessions: sessionmaker[Session],
    db_url: str,
    object_store: ObjectStore,
    store_settings: dict[str, object],
    tmp_path: Path,
) -> None:
    committed = _upload(sessions, object_store, tmp_path, b"%PDF-1.4 da luu", "da-luu.pdf")
    data = b"%PDF-1.4 mat dien giua chung"
    key = key_for(hashlib.sha256(data).hexdigest())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.storage.crash_upload",
            db_url,
            str(tmp_path / "data"),
            json.dumps(store_settings),
            data.hex(),
        ],
        cwd=REPO,
        env=_crash_env(),
        capture_output=True,
        text=True,
        timeout=CRASH_TIMEOUT,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.strip() == f"stored {key}"  # the row was flushed when it died

    with sessions.begin() as s:
        assert (
            s.scalar(
                select(StoredFile.id).where(StoredFile.sha256 == hashlib.sha256(data).hexdigest())
            )
            is None
        )
        assert (
            s.scalar(
                select(AuditEvent.id).where(
                    AuditEvent.action == "upload", AuditEvent.object_id != committed.id
                )
            )
            is None
        )
    assert _read(object_store, key) == data  # the object outlived its transaction

    assert sweep(sessions, object_store, grace=GRACE) == []  # within the grace: kept
    assert object_store.stat(key) is not None
    assert sweep(sessions, object_store, grace=GRACE, now=utcnow() + 2 * GRACE) == [key]
    assert object_store.stat(key) is None

    rows = _rows(sessions)
    assert [r.id for r in rows] == [committed.id]
    for row in rows:  # no dangling row: every file still has its object
        assert _read(object_store, row.key, archive=row.archived) == b"%PDF-1.4 da luu"
    assert check_store(sessions, object_store).healthy


# -- migration -------------------------------------------------------------------------


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "local")


def _s3_sha256(buckets: S3Buckets, bucket: str, key: str) -> str:
    response = buckets.server.client().get_object(bucket, key)
    try:
        digest = hashlib.sha256()
        for chunk in response.stream(64 * 1024):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        response.close()
        response.release_conn()


def test_migrate_to_s3_copies_verifies_and_resumes(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    views = [
        _upload(sessions, local_store, tmp_path, f"%PDF-1.4 ho so {i}".encode() * 999, f"{i}.pdf")
        for i in range(4)
    ]
    views.append(_upload(sessions, local_store, tmp_path, b"%PDF-1.4 ho so 0" * 999, "sao.pdf"))
    assert views[0].sha256 == views[-1].sha256  # two rows, one object
    keys = sorted({key_for(v.sha256) for v in views})
    target = s3_buckets.store()

    first = migrate_store(sessions, local_store, target)
    assert (first.total, first.copied, first.already_there, first.failed) == (4, 4, 0, [])
    for view in views:
        assert _s3_sha256(s3_buckets, s3_buckets.bucket, key_for(view.sha256)) == view.sha256
    assert sorted(o.key for o in target.list_objects()) == keys

    again = migrate_store(sessions, local_store, target)
    assert (again.total, again.copied, again.already_there, again.failed) == (4, 0, 4, [])

    lost = key_for(views[2].sha256)
    s3_buckets.server.client().remove_object(s3_buckets.bucket, lost)
    assert target.stat(lost) is None
    resumed = migrate_store(sessions, local_store, target)
    assert (resumed.total, resumed.copied, resumed.already_there, resumed.failed) == (4, 1, 3, [])
    assert _s3_sha256(s3_buckets, s3_buckets.bucket, lost) == views[2].sha256


def _corrupt_copy_on_s3(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> FileView:
    data = b"%PDF-1.4 ban goc" * 100
    view = _upload(sessions, local_store, tmp_path, data, "goc.pdf")
    bad = _flipped(data)
    s3_buckets.server.client().put_object(
        s3_buckets.bucket, key_for(view.sha256), io.BytesIO(bad), len(bad)
    )
    return view


def test_migrate_never_accepts_a_corrupt_copy_already_on_s3(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    _corrupt_copy_on_s3(sessions, local_store, s3_buckets, tmp_path)
    report = migrate_store(sessions, local_store, s3_buckets.store())
    assert report.already_there == 0
    assert report.copied + len(report.failed) == 1


def test_migrate_replaces_a_corrupt_copy_on_s3(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    view = _corrupt_copy_on_s3(sessions, local_store, s3_buckets, tmp_path)
    report = migrate_store(sessions, local_store, s3_buckets.store())
    assert (report.copied, report.already_there, report.failed) == (1, 0, [])
    assert _s3_sha256(s3_buckets, s3_buckets.bucket, key_for(view.sha256)) == view.sha256


def test_migrate_reports_a_missing_source_object_and_copies_the_rest(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    gone = _upload(sessions, local_store, tmp_path, b"%PDF-1.4 mat tren dia", "mat.pdf")
    kept = _upload(sessions, local_store, tmp_path, b"%PDF-1.4 con tren dia", "con.pdf")
    (local_store.root / "objects" / key_for(gone.sha256)).unlink()
    target = s3_buckets.store()
    report = migrate_store(sessions, local_store, target)
    assert (report.total, report.copied, report.already_there) == (2, 1, 0)
    [failure] = report.failed
    assert failure.startswith(key_for(gone.sha256) + ":") and "missing" in failure
    assert _read(target, key_for(kept.sha256)) == b"%PDF-1.4 con tren dia"
    assert target.stat(key_for(gone.sha256)) is None


def test_migrate_copies_archived_files_into_the_archive_bucket(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    view = _upload(sessions, local_store, tmp_path, b"ho so 20 nam", "20y.pdf", record_class="20y")
    key = key_for(view.sha256)
    target = s3_buckets.store()
    report = migrate_store(sessions, local_store, target)
    assert (report.copied, report.failed) == (1, [])
    assert _s3_sha256(s3_buckets, s3_buckets.archive, key) == view.sha256
    assert target.stat(key) is None  # not in the main bucket


def test_migrated_archived_file_keeps_its_retention_on_s3(
    sessions: sessionmaker[Session],
    local_store: LocalObjectStore,
    s3_buckets: S3Buckets,
    tmp_path: Path,
) -> None:
    view = _upload(sessions, local_store, tmp_path, b"ho so 10 nam", "10y.pdf", record_class="10y")
    key = key_for(view.sha256)
    target = s3_buckets.store()
    assert migrate_store(sessions, local_store, target).copied == 1
    assert view.retain_until is not None
    try:
        retention = s3_buckets.server.client().get_object_retention(s3_buckets.archive, key)
    except S3Error:
        retention = None
    assert retention is not None and retention.retain_until_date is not None
    assert retention.retain_until_date >= view.retain_until - timedelta(seconds=1)
    with pytest.raises(RetainedObjectError):
        target.delete(key, archive=True)
