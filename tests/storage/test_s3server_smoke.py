"""The test S3 server (SeaweedFS ``weed mini``, see ``tests/s3server.py``) does what we need.

Locally a missing ``weed`` binary skips these tests; under CI (``CI`` set) it fails them.
A server that is installed but does not start is always an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import socket
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, GOVERNANCE
from minio.error import S3Error
from minio.helpers import ObjectWriteResult
from minio.retention import Retention
from minio.versioningconfig import VersioningConfig

from tests.conftest import require_weed as _require_weed
from tests.s3server import S3Server

MB = 1024 * 1024


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[S3Server]:
    """A private server, for tests that stop, kill or restart it."""
    _require_weed()
    with S3Server.start(tmp_path / "s3") as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server) -> Minio:
    return s3_server.client()


def _new_bucket(client: Minio, *, object_lock: bool = False) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    client.make_bucket(name, object_lock=object_lock)
    return name


@pytest.fixture
def bucket(s3: Minio) -> str:
    return _new_bucket(s3)


def _put(client: Minio, bucket: str, key: str, data: bytes, **kwargs: Any) -> ObjectWriteResult:
    return client.put_object(bucket, key, io.BytesIO(data), len(data), **kwargs)


def _read(client: Minio, bucket: str, key: str, version_id: str | None = None) -> bytes:
    response = client.get_object(bucket, key, version_id=version_id)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _error_code(call: Callable[[], object]) -> str | None:
    """The S3 error code ``call`` fails with."""
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code


# -- buckets and objects ---------------------------------------------------------------


def test_created_bucket_exists_and_second_create_is_refused(s3: Minio) -> None:
    name = _new_bucket(s3)
    assert s3.bucket_exists(name)
    assert name in {b.name for b in s3.list_buckets()}
    assert _error_code(lambda: s3.make_bucket(name)) == "BucketAlreadyOwnedByYou"


def test_object_put_get_stat_remove(s3: Minio, bucket: str) -> None:
    _put(s3, bucket, "docs/a.txt", b"hello", content_type="text/plain")
    assert _read(s3, bucket, "docs/a.txt") == b"hello"
    stat = s3.stat_object(bucket, "docs/a.txt")
    assert (stat.size, stat.content_type) == (5, "text/plain")
    s3.remove_object(bucket, "docs/a.txt")
    assert _error_code(lambda: s3.stat_object(bucket, "docs/a.txt")) == "NoSuchKey"


def test_missing_bucket_is_nosuchbucket_not_autocreated(s3: Minio) -> None:
    assert _error_code(lambda: _put(s3, "t-missing-bucket", "k", b"x")) == "NoSuchBucket"
    assert not s3.bucket_exists("t-missing-bucket")


def test_streamed_50mb_object_round_trips_with_same_sha256(s3: Minio, bucket: str) -> None:
    data = os.urandom(50 * MB)
    result = s3.put_object(bucket, "big.bin", io.BytesIO(data), length=-1, part_size=10 * MB)
    assert (result.etag or "").endswith("-5")  # a real multipart upload, five 10 MB parts
    assert s3.stat_object(bucket, "big.bin").size == len(data)
    digest = hashlib.sha256()
    response = s3.get_object(bucket, "big.bin")
    try:
        for chunk in response.stream(MB):
            digest.update(chunk)
    finally:
        response.close()
        response.release_conn()
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_presigned_get_serves_the_object_over_plain_http(s3: Minio, bucket: str) -> None:
    _put(s3, bucket, "signed.txt", b"presigned body")
    url = s3.presigned_get_object(bucket, "signed.txt", expires=dt.timedelta(minutes=5))
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned body"
    forged = url.replace("signed.txt?", "other.txt?")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(forged, timeout=10)
    assert info.value.code == 403


# -- identities ------------------------------------------------------------------------


def test_readonly_identity_reads_but_cannot_write(s3_server: S3Server, bucket: str) -> None:
    admin, reader = s3_server.client(), s3_server.readonly_client()
    _put(admin, bucket, "k", b"v")
    assert _read(reader, bucket, "k") == b"v"
    assert [o.object_name for o in reader.list_objects(bucket)] == ["k"]
    assert _error_code(lambda: _put(reader, bucket, "k2", b"v")) == "AccessDenied"
    assert _error_code(lambda: reader.remove_object(bucket, "k")) == "AccessDenied"
    assert _error_code(lambda: reader.make_bucket(f"t-{uuid.uuid4().hex[:12]}")) == "AccessDenied"


def test_wrong_secret_is_signature_mismatch_and_unknown_key_is_refused(
    s3_server: S3Server,
) -> None:
    wrong_secret = s3_server.client(secret_key="not-the-secret")
    assert _error_code(wrong_secret.list_buckets) == "SignatureDoesNotMatch"
    unknown = s3_server.client(access_key="nobody", secret_key="nothing")
    assert _error_code(unknown.list_buckets) == "InvalidAccessKeyId"


# -- versioning and object lock --------------------------------------------------------


def test_versioning_keeps_old_versions_behind_a_delete_marker(s3: Minio, bucket: str) -> None:
    s3.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    assert s3.get_bucket_versioning(bucket).status == ENABLED
    v1 = _put(s3, bucket, "k", b"one").version_id
    v2 = _put(s3, bucket, "k", b"two").version_id
    assert v1 and v2 and v1 != v2
    s3.remove_object(bucket, "k")  # no version id: a delete marker
    assert _error_code(lambda: s3.stat_object(bucket, "k")) == "NoSuchKey"
    assert _read(s3, bucket, "k", version_id=v1) == b"one"
    assert _read(s3, bucket, "k", version_id=v2) == b"two"


@pytest.mark.parametrize("mode", [COMPLIANCE, GOVERNANCE])
def test_retention_refuses_deleting_the_version(s3: Minio, mode: str) -> None:
    bucket = _new_bucket(s3, object_lock=True)
    assert s3.get_bucket_versioning(bucket).status == ENABLED  # object lock turns it on
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    version = _put(s3, bucket, "act.pdf", b"%PDF", retention=Retention(mode, until)).version_id
    retention = s3.get_object_retention(bucket, "act.pdf", version_id=version)
    assert retention is not None
    assert (retention.mode, retention.retain_until_date) == (mode, until)

    refused = _error_code(lambda: s3.remove_object(bucket, "act.pdf", version_id=version))
    assert refused == "AccessDenied"
    shorter = Retention(mode, until - dt.timedelta(hours=1))
    assert (
        _error_code(lambda: s3.set_object_retention(bucket, "act.pdf", shorter, version_id=version))
        == "AccessDenied"
    )
    assert _read(s3, bucket, "act.pdf", version_id=version) == b"%PDF"


def test_legal_hold_refuses_delete_until_released(s3: Minio) -> None:
    bucket = _new_bucket(s3, object_lock=True)
    version = _put(s3, bucket, "k", b"held", legal_hold=True).version_id
    assert s3.is_object_legal_hold_enabled(bucket, "k", version_id=version)
    assert _error_code(lambda: s3.remove_object(bucket, "k", version_id=version)) == "AccessDenied"
    s3.disable_object_legal_hold(bucket, "k", version_id=version)
    s3.remove_object(bucket, "k", version_id=version)
    assert _error_code(lambda: s3.stat_object(bucket, "k", version_id=version)) in {
        "NoSuchKey",
        "NoSuchVersion",
    }


# -- process life cycle ----------------------------------------------------------------


def test_restart_keeps_data(own_server: S3Server) -> None:
    client = own_server.client()
    bucket = _new_bucket(client)
    _put(client, bucket, "k", b"survives")
    own_server.restart()
    assert _read(own_server.client(), bucket, "k") == b"survives"


def test_kill_leaves_no_process_and_data_survives_the_crash(own_server: S3Server) -> None:
    client = own_server.client()
    bucket = _new_bucket(client)
    _put(client, bucket, "k", b"written before the crash")
    pid = own_server.pid
    assert pid is not None

    own_server.kill()

    assert not own_server.running
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone, and reaped
    assert not list(Path("/tmp").glob(f"seaweedfs-*-{own_server.ports.s3}.sock"))
    fail_fast = own_server.client(http_client=urllib3.PoolManager(retries=False, timeout=2))
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        fail_fast.list_buckets()

    own_server.restart()
    assert _read(own_server.client(), bucket, "k") == b"written before the crash"


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of each TCP socket of ``pid`` in LISTEN state (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = cols[1].split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, raw), int(port, 16)))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_every_listener_is_on_loopback_and_one_of_our_ports(s3_server: S3Server) -> None:
    assert s3_server.pid is not None
    listeners = _listening_sockets(s3_server.pid)
    assert listeners, "found no listening socket for weed"
    assert {address for address, _ in listeners} == {"127.0.0.1"}
    assert {port for _, port in listeners} <= set(s3_server.ports.all())
