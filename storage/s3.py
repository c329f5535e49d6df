"""The S3 backend (MinIO in production, any S3-compatible server) through the minio SDK:
reads and writes. The connection and signed requests are `storage.s3_client`'s, the sweep's
mechanics on the versioned main bucket `storage.s3_sweep`'s.

A write of new content to the main bucket is one streamed, conditional PutObject
(`If-None-Match: *`) signed with the SHA-256 the key already names: no existence check
first, no second hash, no part held in memory. The SDK's `put_object` cannot send that
header nor a body it has not read, so that one request is signed with the SDK's own signer
(`minio.signer`) and sent over the client's connection pool. Everything else — archive
writes with retention, sources that cannot be rewound, reads, listings — goes through the
SDK's methods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from minio.commonconfig import COMPLIANCE
from minio.datatypes import Object
from minio.error import S3Error
from minio.retention import Retention

from storage.errors import ObjectStoreError
from storage.objects import (
    DamagedArchiveError,
    ObjectInfo,
    ObjectMissingError,
    ObjectStore,
    RetainedObjectError,
    content_sha256,
)
from storage.s3_checks import (
    Rewindable,
    md5_hex,
    no_object_lock,
    require_object_lock,
    require_versioning,
)
from storage.s3_client import S3_ERRORS, Exactly, rewindable, stream
from storage.s3_sweep import S3Sweep

__all__ = ["S3ObjectStore"]

_PART = 16 * 1024 * 1024  # multipart part size of the SDK's `put_object`
_HEAD_FIRST = _PART  # from this size on, a HEAD before the upload spares resending a duplicate
_SINGLE_PUT_MAX = 5 * 1024**3  # S3's limit for one PutObject; beyond it, the SDK's multipart
_RACE_RETRIES = 3  # conditional write refused, then touch finds it swept: write again
_EXISTS = {"PreconditionFailed", "ConditionalRequestConflict"}


class S3ObjectStore(S3Sweep, ObjectStore):
    """Objects in a bucket; the archive area is a second bucket with object lock."""

    name = "s3"

    def ping(self) -> None:
        """Check the server answers, the key works, the buckets exist, the main bucket keeps
        versions (the sweep's race guard needs them) and the archive bucket has object lock;
        raises ObjectStoreError saying what to fix."""
        for bucket in filter(None, (self.bucket, self.archive_bucket)):
            try:
                exists = self.client.bucket_exists(bucket)
            except S3_ERRORS as e:
                raise self._fail(e, f"check bucket {bucket}") from e
            if not exists:
                raise self._missing(bucket)
        try:
            require_versioning(self.client, self.bucket, self.endpoint)
        except S3_ERRORS as e:
            raise self._fail(e, f"check the versioning of bucket {self.bucket}") from e
        if self.archive_bucket:
            try:
                require_object_lock(self.client, self.archive_bucket, self.endpoint)
            except S3_ERRORS as e:
                raise self._fail(e, f"check bucket {self.archive_bucket}") from e

    def stat(self, key: str, *, archive: bool = False) -> ObjectInfo | None:
        """Size and time of an object, or None when absent."""
        head = self._head(key, archive)
        if head is None:
            return None
        return ObjectInfo(key, head.size or 0, head.last_modified or datetime.now(UTC))

    def _intact(
        self, key: str, head: Object, source: Rewindable | None, size: int, archive: bool = False
    ) -> bool:
        """True when an existing object holds `size` bytes that hash to what its key names.

        The size comes with the HEAD. A single-part upload's ETag is its MD5, so an ETag equal
        to the MD5 of our own bytes (a local read) settles it; any other ETag (another part
        layout, or other bytes written behind our back) is settled by hashing the stored bytes.
        """
        if head.size != size:
            return False
        if source is not None and (head.etag or "").strip('"') == md5_hex(source):
            return True
        expected = content_sha256(key)
        if expected is None:
            return True  # nothing but the size to compare against
        digest = hashlib.sha256()
        for chunk in self.open(key, archive=archive):
            digest.update(chunk)
        return digest.hexdigest() == expected

    def put(
        self,
        key: str,
        source: BinaryIO,
        size: int,
        *,
        content_type: str = "application/octet-stream",
        archive: bool = False,
        retain_until: datetime | None = None,
        replace: bool = False,
    ) -> None:
        """Stream `size` bytes to the bucket; an intact existing object is touched, a damaged
        one rewritten.

        Raises DamagedArchiveError (a damaged archived object), ObjectStoreError (unreachable,
        refused, or `source` ending early).
        """
        sha256 = content_sha256(key)
        if archive or sha256 is None or size > _SINGLE_PUT_MAX or not rewindable(source):
            self._put_with_sdk(key, source, size, content_type, archive, retain_until, replace)
            return
        body = Exactly(source, size, key)
        if replace:
            self._put_object(key, body, sha256, content_type, if_absent=False)
            return
        if size >= _HEAD_FIRST and self._reuse_or_repair(key, body, sha256, content_type):
            return
        for _ in range(_RACE_RETRIES):
            if self._put_object(key, body, sha256, content_type, if_absent=True):
                return
            if self._reuse_or_repair(key, body, sha256, content_type):
                return
            body.seek(0)  # present a moment ago, swept since: write it again
        raise ObjectStoreError(
            f"Không ghi được {key}: đối tượng liên tục bị xoá / could not write {key}: it kept "
            "being swept between the write and the touch; try again",
            code="s3_error",
        )

    def _reuse_or_repair(self, key: str, body: Exactly, sha256: str, content_type: str) -> bool:
        """True when the main bucket now holds our bytes under `key`: an intact object kept
        (and touched), or a damaged one rewritten; False when there is none to keep."""
        head = self._head(key, archive=False)
        if head is None:
            return False
        body.seek(0)  # a refused PutObject may have read it
        if self._intact(key, head, body, body.size):
            return self._touch(key)
        self._put_object(key, body, sha256, content_type, if_absent=False)
        return True

    def _put_with_sdk(
        self,
        key: str,
        source: BinaryIO,
        size: int,
        content_type: str,
        archive: bool,
        retain_until: datetime | None,
        replace: bool,
    ) -> None:
        """The SDK's `put_object` (multipart above 16 MB) after an existence check: an intact
        object is kept, a damaged one rewritten (DamagedArchiveError in the archive)."""
        head = None if replace else self._head(key, archive)
        seekable = source if rewindable(source) else None
        if head is not None and self._intact(key, head, seekable, size, archive):
            if archive:
                self._extend_retention(key, retain_until)
                return
            if self._touch(key):
                return
        elif head is not None and archive:
            raise DamagedArchiveError(key)
        retention = Retention(COMPLIANCE, retain_until) if archive and retain_until else None
        try:
            self.client.put_object(
                self._bucket(archive),
                key,
                source,
                size,
                content_type=content_type,
                part_size=_PART,
                retention=retention,
            )
        except S3Error as e:
            if retention is not None and e.code == "InvalidRequest":  # a bucket without lock
                raise no_object_lock(self._bucket(archive), self.endpoint) from e
            raise self._fail(e, f"write {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"write {key}") from e

    def _put_object(
        self, key: str, body: Exactly, sha256: str, content_type: str, *, if_absent: bool
    ) -> bool:
        """One streamed PutObject to the main bucket; False when `if_absent` and it exists."""
        headers = {"Content-Type": content_type}
        if if_absent:
            headers["If-None-Match"] = "*"
        try:
            self._send(
                "PUT", self.bucket, key, body=body, size=body.size, sha256=sha256, headers=headers
            )
        except S3Error as e:
            if if_absent and e.code in _EXISTS:
                return False
            raise self._fail(e, f"write {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"write {key}") from e
        return True

    def _extend_retention(self, key: str, until: datetime | None) -> None:
        """Retention only grows: the longest record class sharing the content wins."""
        if until is None or not self.archive_bucket:
            return
        try:
            current = self.client.get_object_retention(self.archive_bucket, key)
            if (
                current is not None
                and current.retain_until_date
                and current.retain_until_date >= until
            ):
                return
            self.client.set_object_retention(self.archive_bucket, key, Retention(COMPLIANCE, until))
        except S3_ERRORS as e:
            raise self._fail(e, f"extend the retention of {key}") from e

    def open(self, key: str, *, archive: bool = False) -> Iterator[bytes]:
        """The object's bytes in chunks; raises ObjectMissingError."""
        try:
            response = self.client.get_object(self._bucket(archive), key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectMissingError(
                    f"Thiếu đối tượng {key} trong kho / object {key} is missing from the store"
                ) from e
            raise self._fail(e, f"read {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"read {key}") from e
        return stream(response)

    def delete(self, key: str, *, archive: bool = False) -> None:
        """Remove every version of an object; raises RetainedObjectError under retention."""
        bucket = self._bucket(archive)
        try:
            versions = list(self.client.list_objects(bucket, prefix=key, include_version=True))
            for obj in versions or [None]:
                if obj is not None and obj.object_name != key:
                    continue
                self.client.remove_object(bucket, key, version_id=obj.version_id if obj else None)
        except S3Error as e:
            if e.code == "AccessDenied" and archive:
                raise RetainedObjectError(
                    f"Đối tượng {key} đang được lưu giữ (WORM) / object {key} is under retention "
                    "or legal hold and cannot be deleted"
                ) from e
            raise self._fail(e, f"delete {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"delete {key}") from e

    def list_objects(self, *, archive: bool = False) -> Iterator[ObjectInfo]:
        """Every object, in key order."""
        try:
            for obj in self.client.list_objects(self._bucket(archive), recursive=True):
                if obj.object_name and not obj.is_dir:
                    yield ObjectInfo(
                        obj.object_name, obj.size or 0, obj.last_modified or datetime.now(UTC)
                    )
        except S3_ERRORS as e:
            raise self._fail(e, "list objects") from e
