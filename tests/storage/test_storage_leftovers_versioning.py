"""A main S3 bucket without versioning (never enabled, or suspended) is refused at start with
one bilingual sentence: the sweep's guard against a running upload (tag check, delete
marker, re-check) needs versions, and without them the old race is back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from minio.versioningconfig import OFF, SUSPENDED

from api.app import build_state, create_app
from api.settings import Settings
from storage.errors import ObjectStoreError
from tests.conftest import S3Buckets


def _english(bucket: str, endpoint: str, status: str) -> str:
    return (
        f"the bucket {bucket} on {endpoint} does not have versioning enabled (status: "
        f"{status}; suspended counts as not enabled), so `lienthong storage sweep` could delete "
        "the object of an upload whose row is about to commit; enable versioning on it with "
        f"`mc version enable ALIAS/{bucket}` or `aws s3api put-bucket-versioning --bucket "
        f"{bucket} --versioning-configuration Status=Enabled`, then start again"
    )


@pytest.mark.parametrize("status", [OFF, SUSPENDED])
def test_start_check_refuses_a_main_bucket_without_versioning(
    s3_buckets: S3Buckets, status: str
) -> None:
    unversioned = s3_buckets.unversioned(status)
    store = replace(s3_buckets, bucket=unversioned).store()  # archive: the fixture's
    with pytest.raises(ObjectStoreError) as info:
        store.ping()
    assert info.value.code == "s3_bucket_without_versioning"
    assert info.value.message.endswith(_english(unversioned, s3_buckets.server.endpoint, status))
    assert f"chưa bật versioning (trạng thái: {status}" in info.value.message
    s3_buckets.store().ping()  # the fixture's main bucket has versioning on


def test_server_does_not_start_on_a_main_bucket_without_versioning(
    s3_buckets: S3Buckets, tmp_path: Path
) -> None:
    unversioned = s3_buckets.unversioned()
    settings = Settings(
        data_dir=tmp_path / "data",
        demo=True,
        **(s3_buckets.settings() | {"s3_bucket": unversioned}),  # type: ignore[arg-type]
    )
    state = build_state(settings)
    try:
        with (
            pytest.raises(ObjectStoreError, match="does not have versioning enabled"),
            TestClient(create_app(state=state)),
        ):
            pass
    finally:
        state.engine.dispose()
