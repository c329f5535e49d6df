"""What the S3 backend checks on the server: that an existing object holds the bytes its key
names, and (at start) that the main bucket keeps versions and the archive bucket can keep
records under retention."""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Protocol

from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import S3Error
from minio.versioningconfig import OFF

from storage.errors import ObjectStoreError
from storage.objects import CHUNK

__all__ = [
    "Rewindable",
    "md5_hex",
    "no_object_lock",
    "no_versioning",
    "require_object_lock",
    "require_versioning",
]


class Rewindable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


def md5_hex(source: Rewindable | BinaryIO) -> str:
    """The MD5 of what is left of `source`, which is then rewound to where it was.

    A single-part PutObject gets this as its ETag: a stored object whose ETag is the MD5 of
    our bytes needs no download to be trusted.
    """
    start = source.tell()
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := source.read(CHUNK):
        digest.update(chunk)
    source.seek(start)
    return digest.hexdigest()


def no_object_lock(bucket: str, endpoint: str) -> ObjectStoreError:
    """The refusal of an archive bucket that cannot keep records under retention."""
    return ObjectStoreError(
        f"Bucket lưu trữ {bucket} trên {endpoint} chưa bật khoá đối tượng (object lock) nên "
        "không giữ được hồ sơ theo thời hạn lưu trữ; tạo bucket mới có object lock và đặt "
        f"LIENTHONG_S3_ARCHIVE_BUCKET là bucket đó / the archive bucket {bucket} on {endpoint} "
        "has no object lock, so it cannot keep records under retention; create a bucket with "
        "object lock enabled (it cannot be turned on later) and set LIENTHONG_S3_ARCHIVE_BUCKET "
        "to it",
        code="s3_archive_without_lock",
    )


def require_object_lock(client: Minio, bucket: str, endpoint: str) -> None:
    """Raise ObjectStoreError (`no_object_lock`) when `bucket` has no object lock; other S3
    errors are the caller's to translate."""
    try:
        client.get_object_lock_config(bucket)
    except S3Error as e:
        if e.code in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"):
            raise no_object_lock(bucket, endpoint) from e
        raise


def no_versioning(bucket: str, endpoint: str, status: str) -> ObjectStoreError:
    """The refusal of a main bucket whose versioning is off or suspended."""
    return ObjectStoreError(
        f"Bucket {bucket} trên {endpoint} chưa bật versioning (trạng thái: {status}; "
        '"Suspended" cũng là chưa bật), nên `lienthong storage sweep` có thể xoá tệp của một '
        "lần tải lên đang chờ ghi vào cơ sở dữ liệu; bật versioning cho bucket này: "
        f"`mc version enable ALIAS/{bucket}` hoặc `aws s3api put-bucket-versioning --bucket "
        f"{bucket} --versioning-configuration Status=Enabled` / the bucket {bucket} on "
        f"{endpoint} does not have versioning enabled (status: {status}; suspended counts as "
        "not enabled), so `lienthong storage sweep` could delete the object of an upload whose "
        "row is about to commit; enable versioning on it with "
        f"`mc version enable ALIAS/{bucket}` or `aws s3api put-bucket-versioning --bucket "
        f"{bucket} --versioning-configuration Status=Enabled`, then start again",
        code="s3_bucket_without_versioning",
    )


def require_versioning(client: Minio, bucket: str, endpoint: str) -> None:
    """Raise ObjectStoreError (`no_versioning`) unless versioning is enabled on `bucket`;
    other S3 errors are the caller's to translate.

    The sweep hides an object behind a delete marker and checks the upload tag again before
    deleting the versions it judged; without versions the delete is final at once, and an
    upload that touched the object in between would commit a row for bytes that are gone.
    """
    status = client.get_bucket_versioning(bucket).status or OFF  # never enabled: no status
    if status != ENABLED:
        raise no_versioning(bucket, endpoint, status)
