"""Storing the same content again on a versioned bucket (as the admin guide asks) adds no
object version: the touch that keeps the sweeper away is a tag, not a copy."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from storage.objects import key_for
from tests.conftest import S3Buckets

MB = 1024 * 1024


@pytest.mark.parametrize("size", [MB, 17 * MB])  # a conditional PUT; above 16 MB a HEAD first
def test_storing_the_same_content_three_times_leaves_one_object_version(
    s3_buckets: S3Buckets, size: int
) -> None:
    store = s3_buckets.store()
    data = os.urandom(size)
    key = key_for(hashlib.sha256(data).hexdigest())
    for _ in range(3):
        store.put(key, io.BytesIO(data), size)
    versions = list(
        s3_buckets.server.client().list_objects(
            s3_buckets.bucket, include_version=True, recursive=True
        )
    )
    assert [(v.object_name, v.size) for v in versions] == [(key, size)]
    assert hashlib.sha256(b"".join(store.open(key))).hexdigest() == key[-64:]
