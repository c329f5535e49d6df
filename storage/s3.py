"""The S3 backend (MinIO in production, any S3-compatible server) through the minio SDK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, REPLACE, CopySource
from minio.error import MinioException, S3Error
from minio.retention import Retention

from storage.errors import ObjectStoreError
from storage.objects import CHUNK, ObjectInfo, ObjectMissingError, ObjectStore, RetainedObjectError

__all__ = ["S3ObjectStore"]

_PART = 16 * 1024 * 1024
_BAD_KEY = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken"}


class S3ObjectStore(ObjectStore):
    """Objects in a bucket; the archive area is a second bucket with object lock."""

    name = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        archive_bucket: str | None = None,
        *,
        secure: bool = True,
        region: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.archive_bucket = archive_bucket
        # Few retries and short timeouts: an unreachable server must be reported, not waited on.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
            maxsize=16,
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )

    def _bucket(self, archive: bool) -> str:
        if archive:
            if not self.archive_bucket:
                raise ObjectStoreError(
                    "Chưa cấu hình LIENTHONG_S3_ARCHIVE_BUCKET / no archive bucket configured",
                    code="archive_not_configured",
                )
            return self.archive_bucket
        return self.bucket

    def _fail(self, e: Exception, what: str) -> ObjectStoreError:
        if isinstance(e, S3Error):
            if e.code in _BAD_KEY:
                return ObjectStoreError(
                    f"S3 {self.endpoint} từ chối khoá truy cập ({e.code}): kiểm tra "
                    f"LIENTHONG_S3_ACCESS_KEY/SECRET_KEY / S3 refused the access key ({e.code}) "
                    f"while trying to {what}: check LIENTHONG_S3_ACCESS_KEY and _SECRET_KEY",
                    code="s3_bad_credentials",
                )
            if e.code == "NoSuchBucket":
                return ObjectStoreError(
                    f"Bucket {e.bucket_name} không tồn tại trên {self.endpoint} / bucket "
                    f"{e.bucket_name} does not exist on {self.endpoint}; create it or fix "
                    "LIENTHONG_S3_BUCKET",
                    code="s3_missing_bucket",
                )
            return ObjectStoreError(f"S3 {what}: {e.code}: {e.message}", code="s3_error")
        return ObjectStoreError(
            f"Không kết nối được S3 {self.endpoint} / cannot reach S3 at {self.endpoint} "
            f"({type(e).__name__}) while trying to {what}; check LIENTHONG_S3_ENDPOINT and "
            "LIENTHONG_S3_SECURE",
            code="s3_unreachable",
        )

    def ping(self) -> None:
        """Check the server answers, the key works and the buckets exist."""
        for bucket in filter(None, (self.bucket, self.archive_bucket)):
            try:
                exists = self.client.bucket_exists(bucket)
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
                raise self._fail(e, f"check bucket {bucket}") from e
            if not exists:
                raise ObjectStoreError(
                    f"Bucket {bucket} không tồn tại trên {self.endpoint} / bucket {bucket} does "
                    f"not exist on {self.endpoint}; create it or fix the setting",
                    code="s3_missing_bucket",
                )

    def stat(self, key: str, *, archive: bool = False) -> ObjectInfo | None:
        """Size and time of an object, or None when absent."""
        try:
            st = self.client.stat_object(self._bucket(archive), key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise self._fail(e, f"stat {key}") from e
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"stat {key}") from e
        return ObjectInfo(key, st.size or 0, st.last_modified or datetime.now(UTC))

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
        """Stream `size` bytes to the bucket (multipart above 16 MB); a no-op when present."""
        if not replace and self.stat(key, archive=archive) is not None:
            if archive:
                self._extend_retention(key, retain_until)
                return
            if self._touch(key):
                return
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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"write {key}") from e

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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"extend the retention of {key}") from e

    def _touch(self, key: str) -> bool:
        """Refresh the object's time (copy onto itself) so the sweeper spares it; False if gone."""
        try:
            self.client.copy_object(
                self.bucket,
                key,
                CopySource(self.bucket, key),
                metadata={"x-amz-meta-touched": datetime.now(UTC).isoformat()},
                metadata_directive=REPLACE,
            )
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject"):
                return False
            raise self._fail(e, f"touch {key}") from e
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"touch {key}") from e
        return True

    def delete_if_stale(self, key: str, cutoff: datetime) -> bool:
        """Delete every version of an object when none was written or touched since `cutoff`.

        Only the versions listed are deleted, so a touch that lands meanwhile (a new
        version) survives. Last-Modified has whole seconds: a version in the cutoff's own
        second counts as touched.
        """
        horizon = cutoff.replace(microsecond=0)
        try:
            versions = [
                v
                for v in self.client.list_objects(self.bucket, prefix=key, include_version=True)
                if v.object_name == key
            ]
            if not versions or any(
                v.last_modified is None or v.last_modified >= horizon for v in versions
            ):
                return False
            for v in versions:
                self.client.remove_object(self.bucket, key, version_id=v.version_id)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"sweep {key}") from e
        return True

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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"read {key}") from e
        return _stream(response)

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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"delete {key}") from e

    def list_objects(self, *, archive: bool = False) -> Iterator[ObjectInfo]:
        """Every object, in key order."""
        try:
            for obj in self.client.list_objects(self._bucket(archive), recursive=True):
                if obj.object_name and not obj.is_dir:
                    yield ObjectInfo(
                        obj.object_name, obj.size or 0, obj.last_modified or datetime.now(UTC)
                    )
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, "list objects") from e

    def presigned_url(
        self, key: str, *, expires_seconds: int, filename: str, content_type: str
    ) -> str | None:
        """A presigned GET that makes the server send our name and type."""
        from storage.names import content_disposition

        try:
            return self.client.presigned_get_object(
                self.bucket,
                key,
                expires=timedelta(seconds=expires_seconds),
                response_headers={
                    "response-content-disposition": content_disposition(filename),
                    "response-content-type": content_type,
                },
            )
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"sign a link for {key}") from e


def _stream(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK)
    finally:
        response.close()
        response.release_conn()
