"""The S3 backend (MinIO in production, any S3-compatible server) through the minio SDK.

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
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urlunsplit

import urllib3
from minio import Minio
from minio import time as s3_time
from minio.commonconfig import COMPLIANCE, Tags
from minio.credentials import Credentials
from minio.datatypes import Object
from minio.error import MinioException, S3Error
from minio.helpers import BaseURL, DictType
from minio.retention import Retention
from minio.signer import sign_v4_s3

from storage.errors import ObjectStoreError
from storage.objects import (
    CHUNK,
    DamagedArchiveError,
    Leftover,
    ObjectInfo,
    ObjectMissingError,
    ObjectStore,
    RetainedObjectError,
    content_sha256,
)
from storage.s3_checks import Rewindable, md5_hex, no_object_lock, require_object_lock
from storage.s3_uploads import abort, unfinished_uploads

__all__ = ["S3ObjectStore"]

_PART = 16 * 1024 * 1024  # multipart part size of the SDK's `put_object`
_HEAD_FIRST = _PART  # from this size on, a HEAD before the upload spares resending a duplicate
_SINGLE_PUT_MAX = 5 * 1024**3  # S3's limit for one PutObject; beyond it, the SDK's multipart
_BLOCK = 1024 * 1024  # send block of streamed bodies (urllib3's default is 16 KB)
_TOUCHED = "lienthong-touched"  # object tag: when an upload last wanted the object
_RACE_RETRIES = 3  # conditional write refused, then touch finds it swept: write again
_BAD_KEY = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken"}
_EXISTS = {"PreconditionFailed", "ConditionalRequestConflict"}
_STATUS_CODES = {
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "ConditionalRequestConflict",
    412: "PreconditionFailed",
}


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
        # One pool for the SDK and our own PutObject; keep-alive connections are reused.
        self.http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
            maxsize=16,
            blocksize=_BLOCK,
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=self.http,
        )
        self._credentials = Credentials(access_key, secret_key)
        self._base_url = BaseURL(("https://" if secure else "http://") + endpoint, region)
        self._regions: dict[str, str] = {}

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
                return self._missing(e.bucket_name or self.bucket)
            return ObjectStoreError(f"S3 {what}: {e.code}: {e.message}", code="s3_error")
        return ObjectStoreError(
            f"Không kết nối được S3 {self.endpoint} / cannot reach S3 at {self.endpoint} "
            f"({type(e).__name__}) while trying to {what}; check LIENTHONG_S3_ENDPOINT and "
            "LIENTHONG_S3_SECURE",
            code="s3_unreachable",
        )

    def ping(self) -> None:
        """Check the server answers, the key works, the buckets exist and the archive bucket
        has object lock; raises ObjectStoreError saying what to fix."""
        for bucket in filter(None, (self.bucket, self.archive_bucket)):
            try:
                exists = self.client.bucket_exists(bucket)
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
                raise self._fail(e, f"check bucket {bucket}") from e
            if not exists:
                raise self._missing(bucket)
        if self.archive_bucket:
            try:
                require_object_lock(self.client, self.archive_bucket, self.endpoint)
            except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
                raise self._fail(e, f"check bucket {self.archive_bucket}") from e

    def _missing(self, bucket: str) -> ObjectStoreError:
        setting = (
            "LIENTHONG_S3_ARCHIVE_BUCKET"
            if bucket == self.archive_bucket
            else "LIENTHONG_S3_BUCKET"
        )
        return ObjectStoreError(
            f"Bucket {bucket} không tồn tại trên {self.endpoint}; tạo bucket hoặc sửa {setting} / "
            f"bucket {bucket} does not exist on {self.endpoint}; create it or fix {setting}",
            code="s3_missing_bucket",
        )

    def stat(self, key: str, *, archive: bool = False) -> ObjectInfo | None:
        """Size and time of an object, or None when absent."""
        head = self._head(key, archive)
        if head is None:
            return None
        return ObjectInfo(key, head.size or 0, head.last_modified or datetime.now(UTC))

    def _head(self, key: str, archive: bool) -> Object | None:
        try:
            return self.client.stat_object(self._bucket(archive), key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise self._fail(e, f"stat {key}") from e
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"stat {key}") from e

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
        if archive or sha256 is None or size > _SINGLE_PUT_MAX or not _rewindable(source):
            self._put_with_sdk(key, source, size, content_type, archive, retain_until, replace)
            return
        body = _Exactly(source, size, key)
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

    def _reuse_or_repair(self, key: str, body: _Exactly, sha256: str, content_type: str) -> bool:
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
        rewindable = source if _rewindable(source) else None
        if head is not None and self._intact(key, head, rewindable, size, archive):
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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"write {key}") from e

    def _put_object(
        self, key: str, body: _Exactly, sha256: str, content_type: str, *, if_absent: bool
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
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"write {key}") from e
        return True

    def _send(
        self,
        method: str,
        bucket: str,
        key: str | None = None,
        *,
        body: _Exactly | None = None,
        size: int = 0,
        sha256: str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        headers: Mapping[str, str] | None = None,
        query: DictType | None = None,
        region: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """A request signed (SigV4) with a known payload SHA-256; raises S3Error unless 2xx."""
        region = region or self._region(bucket)
        url = self._base_url.build(
            method=method, region=region, bucket_name=bucket, object_name=key, query_params=query
        )
        date = s3_time.utcnow()
        signed = sign_v4_s3(
            method=method,
            url=url,
            region=region,
            headers={
                **(headers or {}),
                "Host": url.netloc,
                "Content-Length": str(size),
                "x-amz-content-sha256": sha256,
                "x-amz-date": s3_time.to_amz_date(date),
            },
            credentials=self._credentials,
            content_sha256=sha256,
            date=date,
        )
        response = self.http.urlopen(method, urlunsplit(url), body=body, headers=signed)
        if 200 <= response.status < 300:
            return response
        if response.data and "xml" in response.headers.get("Content-Type", ""):
            raise S3Error.fromxml(response)
        code = _STATUS_CODES.get(response.status, f"HTTP{response.status}")  # no XML body
        raise S3Error(response, code, response.reason, url.path, None, None, bucket, key)

    def _region(self, bucket: str) -> str:
        """The configured region, else the bucket's (GetBucketLocation once, then cached)."""
        region = self._base_url.region or self._regions.get(bucket)
        if region is None:
            response = self._send("GET", bucket, query={"location": ""}, region="us-east-1")
            located = (ET.fromstring(response.data).text or "").strip()
            region = {"": "us-east-1", "EU": "eu-west-1"}.get(located, located)
            self._regions[bucket] = region
        return region

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
        """Tag the object with the time it was last wanted, so the sweeper spares it; False if
        it is gone. A tag changes no version: a self-copy made a full new version per upload
        of the same content on a versioned bucket."""
        tags = Tags.new_object_tags()
        tags[_TOUCHED] = datetime.now(UTC).isoformat()
        try:
            self.client.set_object_tags(self.bucket, key, tags)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "MethodNotAllowed"):
                return False
            raise self._fail(e, f"touch {key}") from e
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._fail(e, f"touch {key}") from e
        return True

    def _touched_since(self, key: str, version: str | None, horizon: datetime) -> bool:
        try:
            tags = self.client.get_object_tags(self.bucket, key, version_id=version)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "MethodNotAllowed"):
                return False
            raise
        touched = tags.get(_TOUCHED) if tags else None
        return touched is not None and datetime.fromisoformat(touched) >= horizon

    def delete_if_stale(self, key: str, cutoff: datetime) -> bool:
        """Delete every version of an object when none was written or touched since `cutoff`.

        An upload touches (tags) the object before its row commits. The sweeper checks the
        tag, hides the object behind a delete marker, then checks again: an upload that
        touched it meanwhile gets it back (the marker is removed), a later one finds it gone
        and writes it again, a version the final delete of the listed versions leaves alone.
        Last-Modified has whole seconds: a version in the cutoff's own second counts as new.
        """
        horizon = cutoff.replace(microsecond=0)
        try:
            versions = [
                v
                for v in self.client.list_objects(self.bucket, prefix=key, include_version=True)
                if v.object_name == key
            ]
            if (
                not versions
                or any(v.last_modified is None or v.last_modified >= horizon for v in versions)
                or self._touched_since(key, None, horizon)
            ):
                return False
            latest = next((v.version_id for v in versions if v.is_latest in (True, "true")), None)
            marker = self._send("DELETE", self.bucket, key).headers.get("x-amz-version-id")
            if marker not in (None, "null") and self._touched_since(key, latest, horizon):
                self.client.remove_object(self.bucket, key, version_id=marker)  # give it back
                return False
            for version in [v.version_id for v in versions] + [marker]:
                if version not in (None, "null"):
                    self.client.remove_object(self.bucket, key, version_id=version)
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

    def clear_leftovers(self, cutoff: datetime, *, dry_run: bool = False) -> list[Leftover]:
        """Abort the multipart uploads (of both buckets) a killed upload left unfinished, with
        no part written since `cutoff`; Initiated and part times have whole seconds, so one in
        the cutoff's own second counts as young. Raises ObjectStoreError."""
        horizon = cutoff.replace(microsecond=0)
        found = []
        for bucket in filter(None, (self.bucket, self.archive_bucket)):
            try:
                for upload in unfinished_uploads(self._send, bucket):
                    if upload.modified >= horizon:
                        continue  # maybe an upload still sending parts
                    name = f"s3://{bucket}/{upload.key} (unfinished multipart upload)"
                    found.append(Leftover(name, upload.size, upload.modified))
                    if not dry_run:
                        abort(self._send, upload)
            except (MinioException, urllib3.exceptions.HTTPError, OSError, ET.ParseError) as e:
                raise self._fail(e, f"clear unfinished uploads of {bucket}") from e
        return found


def _stream(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    # The stored bytes as they are (no content decoding): they are what the SHA-256 covers.
    try:
        yield from response.stream(CHUNK, decode_content=False)
    finally:
        response.close()
        response.release_conn()


def _rewindable(source: BinaryIO) -> bool:
    try:
        return source.seekable()
    except (AttributeError, OSError, ValueError):
        return False


class _Exactly:
    """`size` bytes of a seekable source as a request body that urllib3 can rewind to retry.

    Raises ObjectStoreError when the source ends early (the request is then abandoned,
    so the server keeps no object), rather than leaving the server waiting for bytes.
    """

    def __init__(self, source: BinaryIO, size: int, key: str) -> None:
        self.size = size
        self._source = source
        self._start = source.tell()
        self._left = size
        self._key = key

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        chunk = self._source.read(self._left if n < 0 else min(n, self._left))
        if not chunk:
            raise ObjectStoreError(f"source ended {self._left} bytes early for {self._key}")
        self._left -= len(chunk)
        return chunk

    def tell(self) -> int:
        return self.size - self._left

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise ValueError("only absolute positions")
        self._source.seek(self._start + offset)
        self._left = self.size - offset
        return offset
