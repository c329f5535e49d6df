"""`lienthong storage check|sweep|migrate`, run as real processes over SQLite + the local store."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.errors import InvalidInputError
from engine.files import FileView, spool, store_file
from engine.storage_sweep import sweep
from storage.db import make_engine, make_sessionmaker
from storage.models import AuditEvent, User
from storage.objects import LocalObjectStore, key_for
from tests.conftest import S3Buckets
from tests.nodes import LIENTHONG, Run

TIMEOUT = 120  # seconds for one command on a loaded CI machine
DB_FILE = "lienthong.db"


def _env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Only the settings the test chooses; no COLUMNS, so output is as when piped into a log.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIENTHONG_") and k not in ("COLUMNS", "LINES")
    }
    env["LIENTHONG_DATA_DIR"] = str(data_dir)
    env["LIENTHONG_DEMO"] = "1"
    return env | (extra or {})


def _run(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [LIENTHONG, *args],
        cwd=data_dir,
        env=_env(data_dir, env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def _ok(run: Run) -> str:
    assert run.returncode == 0, run
    assert "Traceback" not in run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir after `lienthong db upgrade` and `lienthong demo`, copied by each test."""
    path = tmp_path_factory.mktemp("storage-cli-template")
    _ok(_run(path, "db", "upgrade"))
    assert "demo data seeded" in _ok(_run(path, "demo"))
    return path


@dataclass
class DataDir:
    path: Path
    sessions: sessionmaker[Session]
    store: LocalObjectStore

    def upload(self, data: bytes, name: str) -> FileView:
        """A committed file, stored as the API would store it."""
        with self.sessions.begin() as s:
            user_id = s.scalar(select(User.id).where(User.username == "chuyenvien"))
            assert user_id is not None
            spooled = spool([data], limit=1 << 20, tmp_dir=self.path / "tmp")
            return store_file(s, self.store, spooled, name, principal_for(s, user_id))

    def object_path(self, key: str) -> Path:
        """The file of a main-area object (the store root is <data dir>/objects)."""
        return self.store.root / "objects" / key


@pytest.fixture
def data_dir(demo_template: Path, tmp_path: Path) -> Iterator[DataDir]:
    path = tmp_path / "data"
    path.mkdir()
    for file in demo_template.glob(f"{DB_FILE}*"):
        shutil.copy(file, path / file.name)
    engine = make_engine(f"sqlite:///{path / DB_FILE}")
    yield DataDir(path, make_sessionmaker(engine), LocalObjectStore(path / "objects"))
    engine.dispose()


def _with_files(data_dir: DataDir) -> list[FileView]:
    return [
        data_dir.upload(b"%PDF-1.4 to khai" * 50, "to-khai.pdf"),
        data_dir.upload(b"%PDF-1.4 giay to" * 50, "giay-to.pdf"),
        data_dir.upload(b"%PDF-1.4 to khai" * 50, "to-khai-ban-sao.pdf"),  # same object
    ]


def _s3_env(buckets: S3Buckets, **overrides: str) -> dict[str, str]:
    env = {
        "LIENTHONG_S3_ENDPOINT": buckets.server.endpoint,
        "LIENTHONG_S3_ACCESS_KEY": buckets.server.access_key,
        "LIENTHONG_S3_SECRET_KEY": buckets.server.secret_key,
        "LIENTHONG_S3_SECURE": "false",
        "LIENTHONG_S3_REGION": "us-east-1",
        "LIENTHONG_S3_BUCKET": buckets.bucket,
        "LIENTHONG_S3_ARCHIVE_BUCKET": buckets.archive,
    }
    return env | {f"LIENTHONG_S3_{k.upper()}": v for k, v in overrides.items()}


def _unwrapped(text: str) -> str:
    """The output with the console's line wrapping (and all other whitespace runs) undone."""
    return " ".join(text.split())


def _one_sentence(run: Run) -> str:
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    return lines[0]


# -- check -----------------------------------------------------------------------------


def test_check_json_counts_the_objects_and_exits_0(data_dir: DataDir) -> None:
    _with_files(data_dir)
    run = _run(data_dir.path, "storage", "check", "--json")
    report = json.loads(_ok(run))
    assert report == {"checked": 2, "ok": 2, "missing": [], "corrupt": []}


def test_check_of_an_empty_store_is_healthy(data_dir: DataDir) -> None:
    report = json.loads(_ok(_run(data_dir.path, "storage", "check", "--json")))
    assert report == {"checked": 0, "ok": 0, "missing": [], "corrupt": []}


def test_check_exits_1_and_names_the_corrupt_and_missing_objects(data_dir: DataDir) -> None:
    corrupt, missing, _twin = _with_files(data_dir)
    corrupt_key, missing_key = key_for(corrupt.sha256), key_for(missing.sha256)
    path = data_dir.object_path(corrupt_key)
    path.chmod(0o644)
    path.write_bytes(b"%PDF-1.4 bi sua" * 50)
    data_dir.object_path(missing_key).unlink()

    run = _run(data_dir.path, "storage", "check", "--json")
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr
    report = json.loads(run.stdout)
    assert report == {"checked": 2, "ok": 0, "missing": [missing_key], "corrupt": [corrupt_key]}

    text = _run(data_dir.path, "storage", "check")
    assert text.returncode == 1, text
    assert text.stdout.splitlines()[0] == "checked 2: 0 ok, 1 missing, 1 corrupt"
    assert f"missing: {missing_key} corrupt: {corrupt_key}" in _unwrapped(text.stdout)


def test_check_text_output_has_one_line_per_bad_object(data_dir: DataDir) -> None:
    missing = _with_files(data_dir)[0]
    data_dir.object_path(key_for(missing.sha256)).unlink()
    run = _run(data_dir.path, "storage", "check")
    assert run.returncode == 1, run
    assert f"missing: {key_for(missing.sha256)}" in run.stdout.splitlines()


# -- sweep -----------------------------------------------------------------------------


def _old_orphan(data_dir: DataDir, data: bytes, hours: float) -> str:
    key = key_for(hashlib.sha256(data).hexdigest())
    data_dir.store.put(key, io.BytesIO(data), len(data))
    then = time.time() - hours * 3600
    os.utime(data_dir.object_path(key), (then, then))
    return key


def test_sweep_dry_run_lists_an_orphan_and_keeps_it_then_sweep_removes_it(
    data_dir: DataDir,
) -> None:
    files = _with_files(data_dir)
    for view in files:  # committed files, however old, are never orphans
        path = data_dir.object_path(key_for(view.sha256))
        os.utime(path, (time.time() - 72 * 3600,) * 2)
    orphan = _old_orphan(data_dir, b"tai len bi huy", hours=48)
    young = _old_orphan(data_dir, b"tai len dang chay", hours=0)

    dry = _ok(_run(data_dir.path, "storage", "sweep", "--dry-run"))
    assert _unwrapped(dry) == (
        f"would remove {orphan} 1 orphan object(s) found 0 crash leftover(s) found, 0 bytes"
    )
    assert data_dir.object_path(orphan).exists()

    spared = _ok(_run(data_dir.path, "storage", "sweep", "--grace-hours", "72"))
    assert spared.splitlines() == [
        "0 orphan object(s) removed",
        "0 crash leftover(s) removed, 0 bytes",
    ]
    assert data_dir.object_path(orphan).exists()

    swept = _ok(_run(data_dir.path, "storage", "sweep"))
    assert _unwrapped(swept) == (
        f"removed {orphan} 1 orphan object(s) removed 0 crash leftover(s) removed, 0 bytes"
    )
    assert not data_dir.object_path(orphan).exists()
    assert data_dir.object_path(young).exists()
    for view in files:
        assert data_dir.object_path(key_for(view.sha256)).exists()
    assert json.loads(_ok(_run(data_dir.path, "storage", "check", "--json")))["ok"] == 2


def test_sweep_dry_run_prints_one_line_per_orphan(data_dir: DataDir) -> None:
    orphan = _old_orphan(data_dir, b"mo coi", hours=48)
    dry = _ok(_run(data_dir.path, "storage", "sweep", "--dry-run"))
    assert dry.splitlines() == [
        f"would remove {orphan}",
        "1 orphan object(s) found",
        "0 crash leftover(s) found, 0 bytes",
    ]


def _aged(path: Path, data: bytes, hours: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def test_sweep_lists_then_removes_what_killed_uploads_left_once_older_than_the_grace(
    data_dir: DataDir,
) -> None:
    spooled = spool([b"tai len bi ngat" * 10], limit=1 << 20, tmp_dir=data_dir.path / "tmp")
    old_spool = _aged(spooled.path, b"tai len bi ngat" * 10, hours=48)
    partial = data_dir.store.root / "objects" / "sha256" / "ab"
    old_partial = _aged(partial / ".incoming-abc123", b"phan dau" * 4, hours=48)
    young = [
        _aged(data_dir.path / "tmp" / "upload-dangchay", b"dang tai", hours=0.5),
        _aged(partial / ".incoming-dangghi", b"dang ghi", hours=0.5),
    ]

    dry = _ok(_run(data_dir.path, "storage", "sweep", "--dry-run")).splitlines()
    assert dry == [
        "0 orphan object(s) found",
        f"would remove {old_spool} (150 bytes)",
        f"would remove {old_partial} (32 bytes)",
        "2 crash leftover(s) found, 182 bytes",
    ]
    assert old_spool.exists() and old_partial.exists()

    swept = _ok(_run(data_dir.path, "storage", "sweep")).splitlines()
    assert swept[-1] == "2 crash leftover(s) removed, 182 bytes"
    assert not old_spool.exists() and not old_partial.exists()
    assert all(path.exists() for path in young)  # maybe uploads still running


def test_sweep_records_every_object_and_leftover_it_removed_in_the_audit_log(
    data_dir: DataDir,
) -> None:
    orphan = _old_orphan(data_dir, b"mo coi trong nhat ky", hours=48)
    spooled = spool([b"bi ngat"], limit=1 << 20, tmp_dir=data_dir.path / "tmp")
    old_spool = _aged(spooled.path, b"bi ngat", hours=48)
    partial = data_dir.store.root / "objects" / "sha256" / "ab"
    old_partial = _aged(partial / ".incoming-nhatky", b"phan dau", hours=48)
    _ok(_run(data_dir.path, "storage", "sweep", "--dry-run"))
    assert _audited(data_dir) == {}
    _ok(_run(data_dir.path, "storage", "sweep"))
    assert _audited(data_dir) == {
        "sweep": [(orphan, len(b"mo coi trong nhat ky"), "unreferenced")],
        "sweep_leftovers": [
            (str(old_spool), len(b"bi ngat"), "upload_spool"),
            (str(old_partial), len(b"phan dau"), "partial_write"),
        ],
    }


def _audited(data_dir: DataDir) -> dict[str, list[tuple[str, int, str]]]:
    """What the sweep's audit events list as removed: (key or path, size, reason) by action."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    with data_dir.sessions.begin() as s:
        query = select(AuditEvent).where(AuditEvent.action.in_(["sweep", "sweep_leftovers"]))
        for event in s.scalars(query.order_by(AuditEvent.id)):
            assert event.details["grace_hours"] == 24  # LIENTHONG_SWEEP_GRACE_HOURS' default
            found.setdefault(event.action, []).extend(
                (e.get("key") or e["name"], e["size"], e["reason"])
                for e in event.details["removed"]
            )
    return found


@pytest.mark.parametrize("hours", ["0", "0.01", "-1", "nan", "inf", "1e300"])
def test_sweep_refuses_a_grace_under_one_hour_or_not_finite_and_deletes_nothing(
    data_dir: DataDir, hours: str
) -> None:
    uploading = _old_orphan(data_dir, b"tai len chua ghi xong", hours=0.1)
    sentence = _one_sentence(_run(data_dir.path, "storage", "sweep", "--grace-hours", hours))
    assert "--grace-hours must be 1 to 100000" in sentence
    assert data_dir.object_path(uploading).exists()


def test_sweep_service_refuses_a_grace_under_one_hour(data_dir: DataDir) -> None:
    uploading = _old_orphan(data_dir, b"tai len chua ghi xong", hours=0.1)
    with pytest.raises(InvalidInputError, match="outside 1 to 100000 hours"):
        sweep(data_dir.sessions, data_dir.store, grace=timedelta(minutes=1))
    assert data_dir.object_path(uploading).exists()
    assert sweep(data_dir.sessions, data_dir.store, grace=timedelta(hours=1)) == []


@pytest.mark.parametrize("command", [("check",), ("sweep",), ("sweep", "--dry-run")])
def test_check_and_sweep_refuse_a_main_bucket_without_versioning_and_remove_nothing(
    data_dir: DataDir, s3_buckets: S3Buckets, command: tuple[str, ...]
) -> None:
    unversioned = s3_buckets.unversioned()
    client = s3_buckets.server.client()
    client.put_object(unversioned, "sha256/ab/mo-coi", io.BytesIO(b"mo coi"), 6)  # an orphan
    env = _s3_env(s3_buckets, bucket=unversioned) | {"LIENTHONG_OBJECT_STORE": "s3"}
    sentence = _one_sentence(_run(data_dir.path, "storage", *command, env=env))
    endpoint = s3_buckets.server.endpoint
    assert f"the bucket {unversioned} on {endpoint} does not have versioning enabled" in sentence
    assert f"mc version enable ALIAS/{unversioned}" in sentence
    assert f"put-bucket-versioning --bucket {unversioned}" in sentence
    listed = client.list_objects(unversioned, recursive=True)
    assert [o.object_name for o in listed] == ["sha256/ab/mo-coi"]


# -- migrate ---------------------------------------------------------------------------


def test_migrate_to_s3_copies_everything_and_a_second_run_copies_nothing(
    data_dir: DataDir, s3_buckets: S3Buckets
) -> None:
    files = _with_files(data_dir)
    env = _s3_env(s3_buckets)
    lines = _ok(_run(data_dir.path, "storage", "migrate", "--to", "s3", env=env)).splitlines()
    assert lines == [
        "2 object(s): 2 copied, 0 already there, 0 failed",
        "set LIENTHONG_OBJECT_STORE=s3 to serve from S3",
    ]
    admin = s3_buckets.server.client()
    for view in files:
        response = admin.get_object(s3_buckets.bucket, key_for(view.sha256))
        try:
            assert hashlib.sha256(response.read()).hexdigest() == view.sha256
        finally:
            response.close()
            response.release_conn()

    again = _ok(_run(data_dir.path, "storage", "migrate", "--to", "s3", env=env))
    assert again.splitlines()[0] == "2 object(s): 0 copied, 2 already there, 0 failed"

    served = _run(
        data_dir.path, "storage", "check", "--json", env=env | {"LIENTHONG_OBJECT_STORE": "s3"}
    )
    assert json.loads(_ok(served)) == {"checked": 2, "ok": 2, "missing": [], "corrupt": []}


def test_migrate_with_a_wrong_secret_key_exits_1_naming_the_access_key(
    data_dir: DataDir, s3_buckets: S3Buckets
) -> None:
    _with_files(data_dir)
    env = _s3_env(s3_buckets, secret_key="not-the-secret-key")
    sentence = _one_sentence(_run(data_dir.path, "storage", "migrate", "--to", "s3", env=env))
    assert "access key" in sentence
    assert "LIENTHONG_S3_ACCESS_KEY" in sentence
    assert list(s3_buckets.server.client().list_objects(s3_buckets.bucket)) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_migrate_to_an_unreachable_s3_exits_1_saying_so(
    data_dir: DataDir, s3_buckets: S3Buckets
) -> None:
    _with_files(data_dir)
    endpoint = f"127.0.0.1:{_closed_port()}"
    env = _s3_env(s3_buckets, endpoint=endpoint)
    started = time.monotonic()
    run = _run(data_dir.path, "storage", "migrate", "--to", "s3", env=env)
    sentence = _one_sentence(run)
    assert "cannot reach S3" in sentence
    assert endpoint in sentence
    assert time.monotonic() - started < 60


def test_migrate_without_s3_settings_exits_1_naming_the_variables(data_dir: DataDir) -> None:
    sentence = _one_sentence(_run(data_dir.path, "storage", "migrate", "--to", "s3"))
    assert "LIENTHONG_S3_ENDPOINT" in sentence


def test_migrate_to_anything_but_s3_is_refused(data_dir: DataDir) -> None:
    sentence = _one_sentence(_run(data_dir.path, "storage", "migrate", "--to", "ftp"))
    assert "--to s3" in sentence


def test_migrate_of_a_corrupt_source_exits_1_saying_so_and_copies_nothing_of_it(
    data_dir: DataDir, s3_buckets: S3Buckets
) -> None:
    corrupt, good, _twin = _with_files(data_dir)
    path = data_dir.object_path(key_for(corrupt.sha256))
    path.chmod(0o644)
    path.write_bytes(b"%PDF-1.4 bi hong" * 50)
    got = hashlib.sha256(b"%PDF-1.4 bi hong" * 50).hexdigest()

    run = _run(data_dir.path, "storage", "migrate", "--to", "s3", env=_s3_env(s3_buckets))
    assert run.returncode == 1, run
    assert run.stdout.splitlines() == ["2 object(s): 1 copied, 0 already there, 1 failed"]
    assert (
        f"source object {key_for(corrupt.sha256)} is corrupt: expected sha256 "
        f"{corrupt.sha256}, got {got}"
    ) in _unwrapped(run.stderr)
    stored = [
        o.object_name
        for o in s3_buckets.server.client().list_objects(s3_buckets.bucket, recursive=True)
    ]
    assert stored == [key_for(good.sha256)]
