"""Unfinished multipart uploads of a bucket: what an upload killed midway leaves on S3.

The SDK's `put_object` sends objects above 16 MB in parts; a process killed between the
first part and the completion leaves the parts stored, and billed, until the upload is
aborted. The SDK (7.2) has no public call to list or abort them, so these are the plain S3
requests (ListMultipartUploads, ListParts, AbortMultipartUpload), sent by the store's own
signed `send`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import urllib3
from minio import time as s3_time

__all__ = ["Send", "Unfinished", "abort", "unfinished_uploads"]

Send = Callable[..., urllib3.BaseHTTPResponse]


@dataclass(frozen=True)
class Unfinished:
    """One unfinished multipart upload: its parts' total size and latest write."""

    bucket: str
    key: str
    upload_id: str
    size: int
    modified: datetime


def unfinished_uploads(send: Send, bucket: str) -> Iterator[Unfinished]:
    """Every unfinished multipart upload of `bucket`; raises what `send` raises."""
    markers = {"key-marker": "", "upload-id-marker": ""}
    while True:
        page = _xml(send("GET", bucket, query={"uploads": "", **markers}).data)
        for upload in page.iter("Upload"):
            key, upload_id = _text(upload, "Key"), _text(upload, "UploadId")
            size, last = _parts(send, bucket, key, upload_id)
            started = _time(upload, "Initiated")
            yield Unfinished(bucket, key, upload_id, size, max(started, last or started))
        if _text(page, "IsTruncated") != "true":
            return
        markers = {
            "key-marker": _text(page, "NextKeyMarker"),
            "upload-id-marker": _text(page, "NextUploadIdMarker"),
        }


def abort(send: Send, upload: Unfinished) -> None:
    """Abort the upload: its parts are deleted. Raises what `send` raises."""
    send("DELETE", upload.bucket, upload.key, query={"uploadId": upload.upload_id})


def _parts(send: Send, bucket: str, key: str, upload_id: str) -> tuple[int, datetime | None]:
    """The total size of the parts stored so far and the time the last one was written."""
    size, last, marker = 0, None, ""
    while True:
        query = {"uploadId": upload_id, "part-number-marker": marker}
        page = _xml(send("GET", bucket, key, query=query).data)
        for part in page.iter("Part"):
            size += int(_text(part, "Size") or 0)
            written = _time(part, "LastModified")
            last = written if last is None or written > last else last
        if _text(page, "IsTruncated") != "true":
            return size, last
        marker = _text(page, "NextPartNumberMarker")


def _xml(data: bytes) -> ET.Element:
    """The document with its namespace dropped: servers differ in sending one."""
    root = ET.fromstring(data)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def _text(element: ET.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _time(element: ET.Element, tag: str) -> datetime:
    """A time the server gave; a missing one counts as now (young: left alone)."""
    return s3_time.from_iso8601utc(_text(element, tag) or None) or s3_time.utcnow()
