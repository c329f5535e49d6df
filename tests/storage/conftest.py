"""Fixtures of the storage tests: tampering with a store behind lienthong's back."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from storage.objects import LocalObjectStore, ObjectStore
from tests.conftest import S3Buckets


@dataclass
class Tamper:
    """Changes made to a store behind lienthong's back, as a disk fault or an operator would."""

    remove: Callable[[str], None]
    overwrite: Callable[[str, bytes], None]


@pytest.fixture
def tamper(object_store: ObjectStore, request: pytest.FixtureRequest) -> Tamper:
    """Remove or overwrite a main-area object of `object_store` directly (file or raw PUT)."""
    if isinstance(object_store, LocalObjectStore):
        root = object_store.root / "objects"

        def overwrite_file(key: str, data: bytes) -> None:
            path = root / key
            path.chmod(0o644)
            path.write_bytes(data)

        return Tamper(lambda key: (root / key).unlink(), overwrite_file)
    buckets: S3Buckets = request.getfixturevalue("s3_buckets")
    admin = buckets.server.client()

    def overwrite_object(key: str, data: bytes) -> None:
        admin.put_object(buckets.bucket, key, io.BytesIO(data), len(data))

    return Tamper(lambda key: admin.remove_object(buckets.bucket, key), overwrite_object)
