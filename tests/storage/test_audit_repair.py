"""Uploading the good original again repairs a damaged stored object (a damaged archived one
is reported: it cannot be replaced), on the local store and on S3."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest

from storage.objects import LocalObjectStore, ObjectStore, key_for
from tests.conftest import Api, S3Buckets
from tests.storage.conftest import Tamper

FILES = "/api/v1/files"
ORIGINAL = "Quyết định số 123/QĐ-UBND về việc cấp giấy phép xây dựng\n".encode() * 40


def _upload(api: Api, headers: dict[str, str], content: bytes, **form: str) -> Any:
    return api.client.post(
        FILES, files={"file": ("quyet-dinh.txt", content, "text/plain")}, data=form, headers=headers
    )


def _flipped(data: bytes) -> bytes:
    """Same length, one byte different: only the hash can tell."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize("damage", [_flipped, lambda data: data[: len(data) // 2]])
def test_uploading_the_original_again_repairs_a_damaged_object(
    files_api: Api, tamper: Tamper, damage: Any
) -> None:
    h = files_api.login("chuyenvien")
    first = _upload(files_api, h, ORIGINAL).json()
    tamper.overwrite(key_for(first["sha256"]), damage(ORIGINAL))
    assert files_api.client.get(f"{FILES}/{first['id']}", headers=h).status_code == 502

    again = _upload(files_api, h, ORIGINAL)  # the clerk uploads the good original again
    assert again.status_code == 201, again.text
    for file_id in (again.json()["id"], first["id"]):
        got = files_api.client.get(f"{FILES}/{file_id}", headers=h)
        assert (got.status_code, got.content) == (200, ORIGINAL)


def test_storing_a_large_object_again_repairs_it(object_store: ObjectStore, tamper: Tamper) -> None:
    data = os.urandom(17 * 1024 * 1024)  # above 16 MB, S3 asks whether it exists first
    key = key_for(hashlib.sha256(data).hexdigest())
    object_store.put(key, io.BytesIO(data), len(data))
    tamper.overwrite(key, _flipped(data))
    object_store.put(key, io.BytesIO(data), len(data))
    assert hashlib.sha256(b"".join(object_store.open(key))).hexdigest() == key[-64:]


def test_uploading_a_damaged_archived_original_again_says_it_cannot_be_replaced(
    files_api: Api, object_store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    h = files_api.login("chuyenvien")
    first = _upload(files_api, h, ORIGINAL, record_class="10y").json()
    key = key_for(first["sha256"])
    bad = _flipped(ORIGINAL)
    if isinstance(object_store, LocalObjectStore):
        path = object_store.root / "archive" / key
        path.chmod(0o644)
        path.write_bytes(bad)
    else:
        buckets: S3Buckets = request.getfixturevalue("s3_buckets")
        buckets.server.client().put_object(buckets.archive, key, io.BytesIO(bad), len(bad))

    again = _upload(files_api, h, ORIGINAL, record_class="10y")
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "archived_object_damaged"
    assert "cannot be replaced while under retention (WORM)" in again.json()["detail"]
    assert "restore it from a backup" in again.json()["detail"]
