"""Fixtures of the storage tests: tampering with a store behind lienthong's back, and the
rows other than files that reference objects."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from storage.models import ExchangeEvidence, ExternalSigning, utcnow
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


def add_object_references(
    s: Session, *, package: str, prepared: str, file_id: str, user_id: int, sha256: str, size: int
) -> None:
    """An evidence row holding the package object and an external signing holding the
    prepared object (of the file `file_id`, for `user_id`): objects that are not files."""
    s.add(
        ExchangeEvidence(
            direction="received", kind="package", sha256=sha256, size=size,
            object_key=package, result="accepted",
        )
    )  # fmt: skip
    s.add(
        ExternalSigning(
            id=str(uuid.uuid4()), file_id=file_id, user_id=user_id,
            prepared_key=prepared, document_digest=b"d", region_start=0, region_end=1,
            signed_attrs=b"a", field_name="Sig1", certificates_pem="", expires_at=utcnow(),
        )
    )  # fmt: skip
