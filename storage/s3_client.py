"""The S3 backend's connection: the SDK client over one urllib3 pool, requests signed with a
known payload SHA-256 (`send`), and the translation of S3 and network errors into
`ObjectStoreError` sentences that say what to fix.

The SDK's `put_object` cannot send `If-None-Match` nor a body it has not read, so those
requests are signed with the SDK's own signer (`minio.signer`) and sent over the client's
connection pool; everything else goes through the SDK's methods.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import BinaryIO
from urllib.parse import urlunsplit

import urllib3
from minio import Minio
from minio import time as s3_time
from minio.credentials import Credentials
from minio.datatypes import Object
from minio.error import MinioException, S3Error
from minio.helpers import BaseURL, DictType
from minio.signer import sign_v4_s3

from storage.errors import ObjectStoreError
from storage.objects import CHUNK

__all__ = ["S3_ERRORS", "Exactly", "S3Connection", "rewindable", "stream"]

# What a call to the server may raise besides S3Error: the SDK's own, urllib3's, the socket's.
S3_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)
_BLOCK = 1024 * 1024  # send block of streamed bodies (urllib3's default is 16 KB)
_BAD_KEY = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken"}
_STATUS_CODES = {
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "ConditionalRequestConflict",
    412: "PreconditionFailed",
}


class S3Connection:
    """One S3 server and the main and archive buckets lienthong uses on it."""

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

    def _head(self, key: str, archive: bool) -> Object | None:
        try:
            return self.client.stat_object(self._bucket(archive), key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise self._fail(e, f"stat {key}") from e
        except S3_ERRORS as e:
            raise self._fail(e, f"stat {key}") from e

    def _send(
        self,
        method: str,
        bucket: str,
        key: str | None = None,
        *,
        body: Exactly | None = None,
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


def stream(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """A GET's body in chunks, the connection released at the end."""
    # The stored bytes as they are (no content decoding): they are what the SHA-256 covers.
    try:
        yield from response.stream(CHUNK, decode_content=False)
    finally:
        response.close()
        response.release_conn()


def rewindable(source: BinaryIO) -> bool:
    """True when `source` can seek back, so a refused or retried request can resend it."""
    try:
        return source.seekable()
    except (AttributeError, OSError, ValueError):
        return False


class Exactly:
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
