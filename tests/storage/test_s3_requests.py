"""How many S3 requests a put and a get cost, counted on the store's pool against SeaweedFS.

A new object is one conditional PutObject; existing content is a refused PutObject, a
HEAD and a touch; a read is one GetObject. A regression here costs every upload a round trip.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from urllib3.util.request import rewind_body, set_file_position

from engine.files import verified_chunks
from storage.errors import ObjectStoreError
from storage.models import StoredFile
from storage.objects import ObjectStore, key_for
from storage.s3 import S3ObjectStore
from storage.s3_client import Exactly
from tests.conftest import S3Buckets

MB = 1024 * 1024


class _Requests:
    """The store's requests as `METHOD query-or-path-tail`, with the statuses it got."""

    def __init__(self, store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, str, int]] = []
        urlopen = store.http.urlopen

        def counting(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            response = urlopen(method, url, *args, **kwargs)
            self.seen.append((method, url, response.status))
            return response

        monkeypatch.setattr(store.http, "urlopen", counting)

    def clear(self) -> None:
        self.seen.clear()

    def summary(self) -> list[tuple[str, int]]:
        return [(method, status) for method, _, status in self.seen]


@pytest.fixture
def store(s3_buckets: S3Buckets) -> S3ObjectStore:
    return s3_buckets.store()


@pytest.fixture
def requests(store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch) -> _Requests:
    return _Requests(store, monkeypatch)


def _put(store: ObjectStore, data: bytes, **kwargs: Any) -> str:
    key = key_for(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data), **kwargs)
    return key


def _row(key: str, data: bytes, *, archived: bool = False) -> StoredFile:
    return StoredFile(
        id="f", key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), archived=archived
    )


def test_put_of_new_content_is_one_conditional_put(
    store: S3ObjectStore, requests: _Requests
) -> None:
    data = os.urandom(MB)
    key = _put(store, data)
    assert requests.summary() == [("PUT", 200)]
    assert b"".join(store.open(key)) == data


def test_put_of_existing_content_is_a_refused_put_a_check_and_a_touch(
    store: S3ObjectStore, requests: _Requests
) -> None:
    data = os.urandom(MB)
    key = _put(store, data)
    time.sleep(1.1)  # S3 times have whole seconds
    cutoff = datetime.now(UTC)
    requests.clear()
    _put(store, data)
    # The HEAD checks what is there (size, ETag = MD5 of our bytes) before trusting it; the
    # touch is a PutObjectTagging (no new version).
    assert requests.summary() == [("PUT", 412), ("HEAD", 200), ("PUT", 200)]
    assert requests.seen[-1][1].endswith("?tagging=")
    assert store.delete_if_stale(key, cutoff) is False


def test_put_of_a_large_new_object_checks_first_then_streams_one_put(
    store: S3ObjectStore, requests: _Requests
) -> None:
    data = os.urandom(17 * MB)  # above the part size: no multipart, no body sent twice
    key = _put(store, data)
    assert requests.summary() == [("HEAD", 404), ("PUT", 200)]
    requests.clear()
    _put(store, data)
    assert requests.summary() == [("HEAD", 200), ("PUT", 200)]  # exists: only the touch
    assert hashlib.sha256(b"".join(store.open(key))).digest() == hashlib.sha256(data).digest()


def test_get_is_one_request_and_verifies(store: S3ObjectStore, requests: _Requests) -> None:
    data = os.urandom(MB)
    key = _put(store, data)
    requests.clear()
    mismatches: list[str] = []
    assert b"".join(verified_chunks(store, _row(key, data), mismatches.append)) == data
    assert requests.summary() == [("GET", 200)] and mismatches == []


def test_archive_put_of_new_content_writes_it_under_retention(
    store: S3ObjectStore, requests: _Requests
) -> None:
    data = os.urandom(1024)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    key = _put(store, data, archive=True, retain_until=until)
    assert requests.summary() == [("HEAD", 404), ("PUT", 200)]
    retention = store.client.get_object_retention(store.archive_bucket or "", key)
    assert retention is not None and retention.retain_until_date == until


def test_replace_rewrites_without_asking(store: S3ObjectStore, requests: _Requests) -> None:
    data = os.urandom(1024)
    key = _put(store, data)
    requests.clear()
    store.put(key, io.BytesIO(data), len(data), replace=True)
    assert requests.summary() == [("PUT", 200)]


def test_put_from_a_short_source_fails_and_leaves_no_object(store: S3ObjectStore) -> None:
    data = os.urandom(4096)
    key = key_for(hashlib.sha256(data).hexdigest())
    with pytest.raises(ObjectStoreError, match="early"):
        store.put(key, io.BytesIO(data[:1000]), len(data))
    assert store.stat(key) is None
    _put(store, data)  # the pool's connection survived the abandoned request
    assert b"".join(store.open(key)) == data


def test_put_body_rewinds_as_urllib3_does_to_retry(store: S3ObjectStore) -> None:
    # urllib3 retries a 5xx itself: it notes the body's position and seeks back to it.
    data = os.urandom(3 * MB)
    source = io.BytesIO(b"head" + data)
    source.seek(4)
    body = Exactly(source, len(data), "k")
    position = set_file_position(body, None)
    assert body.read(MB) == data[:MB]
    rewind_body(body, position)
    assert b"".join(iter(lambda: body.read(MB), b"")) == data


def _store_with(s3_buckets: S3Buckets, **changes: Any) -> S3ObjectStore:
    server = s3_buckets.server
    settings: dict[str, Any] = {
        "endpoint": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": s3_buckets.bucket,
        "region": "us-east-1",
        **changes,
    }
    return S3ObjectStore(**settings, secure=False)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"secret_key": "not-the-secret"}, "s3_bad_credentials"),
        ({"access_key": "nobody"}, "s3_bad_credentials"),
        ({"bucket": "no-such-bucket-here"}, "s3_missing_bucket"),
    ],
)
def test_put_failures_are_translated(
    s3_buckets: S3Buckets, changes: dict[str, str], code: str
) -> None:
    store = _store_with(s3_buckets, **changes)
    with pytest.raises(ObjectStoreError) as raised:
        _put(store, os.urandom(1024))
    assert raised.value.code == code


def test_put_without_a_configured_region_asks_the_bucket_once(
    s3_buckets: S3Buckets, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store_with(s3_buckets, region=None)
    requests = _Requests(store, monkeypatch)
    key = _put(store, b"mot")
    _put(store, b"hai")
    assert [(m, s) for m, _, s in requests.seen] == [("GET", 200), ("PUT", 200), ("PUT", 200)]
    assert requests.seen[0][1].endswith("?location=")
    assert b"".join(store.open(key)) == b"mot"
