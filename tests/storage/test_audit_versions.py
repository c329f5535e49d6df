"""Storing the same content again on a versioned bucket (as the admin guide asks) adds no
object version: the touch that keeps the sweeper away is a tag, not a copy."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from storage.objects import key_for
from storage.s3 import S3ObjectStore
from tests.conftest import S3Buckets

MB = 1024 * 1024


@pytest.mark.parametrize("size", [MB, 17 * MB])  # a conditional PUT; above 16 MB a HEAD first
def test_storing_the_same_content_three_times_leaves_one_object_version(
    s3_buckets: S3Buckets, size: int
) -> None:
    server = s3_buckets.server
    store = S3ObjectStore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        s3_buckets.bucket,
        s3_buckets.archive,
        secure=False,
        region="us-east-1",
    )
    data = os.urandom(size)
    key = key_for(hashlib.sha256(data).hexdigest())
    for _ in range(3):
        store.put(key, io.BytesIO(data), size)
    versions = list(
        server.client().list_objects(s3_buckets.bucket, include_version=True, recursive=True)
    )
    assert [(v.object_name, v.size) for v in versions] == [(key, size)]
    assert hashlib.sha256(b"".join(store.open(key))).hexdigest() == key[-64:]
