"""An archive bucket without object lock is refused at start with one bilingual sentence,
and an archive write to one fails with the same sentence (not a bare "InvalidRequest")."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import ObjectStoreError
from storage.objects import key_for
from storage.s3 import S3ObjectStore
from tests.conftest import S3Buckets


def _store(buckets: S3Buckets, archive: str) -> S3ObjectStore:
    server = buckets.server
    return S3ObjectStore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        buckets.bucket,
        archive,
        secure=False,
        region="us-east-1",
    )


def _sentence(bucket: str, endpoint: str) -> str:
    return (
        f"the archive bucket {bucket} on {endpoint} has no object lock, so it cannot keep "
        "records under retention; create a bucket with object lock enabled (it cannot be "
        "turned on later) and set LIENTHONG_S3_ARCHIVE_BUCKET to it"
    )


@pytest.fixture
def unlocked(s3_buckets: S3Buckets) -> str:
    name = s3_buckets.bucket + "-nolock"
    s3_buckets.server.client().make_bucket(name)  # created without object lock
    return name


def test_start_refuses_an_archive_bucket_without_object_lock(
    s3_buckets: S3Buckets, unlocked: str
) -> None:
    with pytest.raises(ObjectStoreError) as info:
        _store(s3_buckets, unlocked).ping()
    assert info.value.code == "s3_archive_without_lock"
    assert info.value.message.endswith(_sentence(unlocked, s3_buckets.server.endpoint))
    assert "chưa bật khoá đối tượng (object lock)" in info.value.message
    _store(s3_buckets, s3_buckets.archive).ping()  # the fixture's archive bucket has lock


def test_archive_write_to_a_bucket_without_object_lock_says_what_to_do(
    s3_buckets: S3Buckets, unlocked: str
) -> None:
    data = b"ho so luu tru 10 nam"
    key = key_for(hashlib.sha256(data).hexdigest())
    until = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ObjectStoreError) as info:
        _store(s3_buckets, unlocked).put(
            key, io.BytesIO(data), len(data), archive=True, retain_until=until
        )
    assert info.value.message.endswith(_sentence(unlocked, s3_buckets.server.endpoint))
