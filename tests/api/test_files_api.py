"""Files through the HTTP API, on each database and each object-store backend."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import select as io_select
import socket
import struct
import threading
import time
import unicodedata
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from minio.error import S3Error
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import build_state, create_app
from api.settings import Settings
from storage.models import AuditEvent, StoredFile
from storage.objects import LocalObjectStore, RetainedObjectError, key_for
from tests.conftest import Api, S3Buckets

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
TEXT = "Kính gửi Ủy ban nhân dân xã,\nđề nghị cấp bản sao trích lục khai sinh.\n".encode()
MB = 1024 * 1024
BIG = 5 * MB  # above the 4 MB a download verifies in memory: the streaming path
FILES = "/api/v1/files"


def _png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data))
        return struct.pack(">I", len(data)) + tag + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _upload(
    api: Api,
    headers: dict[str, str],
    content: bytes,
    name: str = "to-trinh.txt",
    claimed: str = "application/octet-stream",
    **form: object,
) -> Any:
    return api.client.post(
        FILES,
        files={"file": (name, content, claimed)},
        data={k: str(v) for k, v in form.items()},
        headers=headers,
    )


def _stored(api: Api, headers: dict[str, str], content: bytes, **kw: Any) -> dict[str, Any]:
    r = _upload(api, headers, content, **kw)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _delete(api: Api, headers: dict[str, str], file_id: str, body: object = None) -> Any:
    return api.client.request("DELETE", f"{FILES}/{file_id}", json=body, headers=headers)


def _objects(api: Api) -> list[str]:
    """Keys in both areas of the store (the archive area prefixed with `archive:`)."""
    store = api.state.objects
    keys = [o.key for o in store.list_objects()]
    return keys + [f"archive:{o.key}" for o in store.list_objects(archive=True)]


def _rows(sessions: sessionmaker[Session]) -> list[StoredFile]:
    with sessions() as s:
        return list(s.scalars(select(StoredFile)))


def _s3(api: Api, request: pytest.FixtureRequest) -> S3Buckets | None:
    if api.state.settings.object_store != "s3":
        return None
    buckets: S3Buckets = request.getfixturevalue("s3_buckets")
    return buckets


def _overwrite_object(
    api: Api, request: pytest.FixtureRequest, key: str, data: bytes, *, archive: bool = False
) -> None:
    """Change an object's bytes behind the server's back."""
    s3 = _s3(api, request)
    if s3 is None:
        store = api.state.objects
        assert isinstance(store, LocalObjectStore)
        path = store.root / ("archive" if archive else "objects") / key
        assert path.is_file()
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        bucket = s3.archive if archive else s3.bucket
        s3.server.client().put_object(bucket, key, io.BytesIO(data), len(data))


def _remove_object(api: Api, request: pytest.FixtureRequest, key: str) -> None:
    """Remove an object behind the server's back (every S3 version)."""
    s3 = _s3(api, request)
    if s3 is None:
        store = api.state.objects
        assert isinstance(store, LocalObjectStore)
        (store.root / "objects" / key).unlink()
    else:
        client = s3.server.client()
        for obj in client.list_objects(s3.bucket, prefix=key, include_version=True):
            client.remove_object(s3.bucket, key, version_id=obj.version_id)


def _audit(api: Api, action: str, file_id: str) -> list[AuditEvent]:
    with api.state.sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action, AuditEvent.object_id == file_id
                )
            )
        )


def _let_age(api: Api, key: str, *, archive: bool = False) -> None:
    """Wait until the object's time lies over a second before now.

    A purge deletes an object only when nothing wrote it within the purge grace, one second
    in these tests (`files_api`); S3 keeps whole seconds, hence the margin.
    """
    info = api.state.objects.stat(key, archive=archive)
    assert info is not None
    wait = (info.modified + timedelta(seconds=2.1) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        time.sleep(wait)


def _purge(api: Api, headers: dict[str, str], file_id: str) -> Any:
    return api.client.post(f"{FILES}/{file_id}/purge", headers=headers)


def _disposition(header: str) -> tuple[str, str]:
    """The ASCII fallback and the decoded RFC 5987 name of a Content-Disposition header."""
    m = re.fullmatch(r"attachment; filename=\"([^\"]*)\"; filename\*=UTF-8''(\S+)", header)
    assert m, header
    fallback, encoded = m.groups()
    assert fallback.isascii() and fallback.isprintable()
    assert re.fullmatch(r"[A-Za-z0-9!#$&+.^_`|~%-]+", encoded), encoded  # RFC 5987 attr-chars
    return fallback, unquote(encoded, errors="strict")


def _sign(secret: str, file_id: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@contextmanager
def _served(api: Api) -> Iterator[str]:
    """The same application state behind a real HTTP server (uvicorn in a thread).

    The TestClient cannot show a body cut off mid-stream (it answers an empty body), so the
    streaming-path checks go through a real socket.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(state=api.state), host="127.0.0.1", port=port, log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _fetch(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, bool]:
    """Status, the bytes that arrived, and whether the connection was cut mid-body."""
    received = bytearray()
    status = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        try:
            with client.stream("GET", path, headers=headers) as r:
                status = r.status_code
                for chunk in r.iter_raw():
                    received += chunk
        except httpx.RemoteProtocolError:
            return status, bytes(received), True
    return status, bytes(received), False


def _sqlite_lock_waits_fail_fast(api: Api) -> None:
    """On SQLite, fail a lock wait after 1 s instead of 30 s.

    Recording the integrity_error event while the request's own transaction holds SQLite's
    write lock would deadlock; only the same request could hold it, so waiting longer cannot
    change the outcome, and a regression fails in a second instead of half a minute.
    """
    engine = api.state.engine
    if engine.dialect.name != "sqlite":
        return

    def short_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=1000")

    event.listen(engine, "connect", short_wait)
    engine.pool.dispose()


# -- upload: type, name, round trip ---------------------------------------------------------


def test_upload_sniffs_type_sanitises_name_and_download_round_trips(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    r = files_api.client.post(
        "/api/v1/files",
        files={"file": ("../../etc/Tờ khai khai sinh.pdf", PDF, "image/png")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["media_type"] == "application/pdf"
    assert body["name"] == "Tờ khai khai sinh.pdf"
    assert body["size"] == len(PDF) and body["version"] == 1
    got = files_api.client.get(f"/api/v1/files/{body['id']}", headers=h)
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["etag"] == f'"{body["sha256"]}"'
    assert "filename*=UTF-8''T%E1%BB%9D%20khai" in got.headers["content-disposition"]
    again = files_api.client.get(
        f"/api/v1/files/{body['id']}", headers=h | {"If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("content", "name", "claimed", "sniffed"),
    [
        (PDF, "Tờ trình.pdf", "image/png", "application/pdf"),
        (_png(), "anh-chup.pdf", "application/pdf", "image/png"),
        (TEXT, "setup.exe", "application/x-msdownload", "text/plain"),
    ],
    ids=["pdf", "png", "text"],
)
def test_media_type_is_sniffed_from_content_not_the_clients_claim(
    files_api: Api, content: bytes, name: str, claimed: str, sniffed: str
) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, content, name=name, claimed=claimed)
    assert body["media_type"] == sniffed
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"].split(";")[0] == sniffed
    assert got.headers["x-content-type-options"] == "nosniff"


def test_path_traversal_name_becomes_a_bare_name_and_nothing_is_written_outside_the_store(
    files_api: Api, tmp_path: Path
) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, TEXT, name="../../etc/passwd")
    assert body["name"] == "passwd"
    for evil in ("..\\..\\windows\\system.ini", "/etc/shadow", "..", "./."):
        r = _upload(files_api, h, TEXT, name=evil)
        assert r.status_code == 201, r.text
        assert "/" not in r.json()["name"] and "\\" not in r.json()["name"]
        assert r.json()["name"] not in ("", ".", "..")
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert got.content == TEXT
    assert _disposition(got.headers["content-disposition"]) == ("passwd", "passwd")

    strays = [p for p in tmp_path.rglob("*") if p.name in ("passwd", "shadow", "etc", "system.ini")]
    assert strays == []
    # Every object is named by its hash, nowhere else.
    objects = _objects(files_api)
    assert objects == [key_for(hashlib.sha256(TEXT).hexdigest())]
    if isinstance(files_api.state.objects, LocalObjectStore):
        root = files_api.state.objects.root
        files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
        assert files == ["objects/" + objects[0]]
    assert list((files_api.state.settings.tmp_dir).iterdir()) == []  # spool files removed


def test_control_characters_in_the_name_are_replaced(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    # httpx would percent-escape control characters: send the multipart body by hand.
    raw_name = "hoa\x00don\x01\x1f\x7f\u202efdp.exe.txt"
    boundary = "lienthong-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{raw_name}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + TEXT
        + f"\r\n--{boundary}--\r\n".encode()
    )
    r = files_api.client.post(
        FILES,
        content=body,
        headers=h | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert name == "hoa_don____fdp.exe.txt"
    assert all(not unicodedata.category(c).startswith("C") for c in name)
    got = files_api.client.get(f"{FILES}/{r.json()['id']}", headers=h)
    assert _disposition(got.headers["content-disposition"])[1] == name


def test_long_vietnamese_name_is_cut_to_200_keeping_extension_and_disposition_round_trips(
    files_api: Api,
) -> None:
    h = files_api.login("chuyenvien")
    stem = ("Quyết định phê duyệt hồ sơ đăng ký khai sinh cho công dân " * 6)[:295]
    original = stem + ".docx"
    assert len(original) == 300
    # Sent decomposed (NFD, as macOS does): stored composed (NFC).
    body = _stored(files_api, h, TEXT, name=unicodedata.normalize("NFD", original))
    name = body["name"]
    assert len(name) <= 200 and len(name) >= 190
    assert name.endswith(".docx")
    assert original.startswith(name.removesuffix(".docx"))
    assert unicodedata.is_normalized("NFC", name)

    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    fallback, decoded = _disposition(got.headers["content-disposition"])
    assert decoded == name
    assert fallback.startswith("Quyet dinh phe duyet ho so dang ky khai sinh cho cong dan")
    assert fallback.endswith(".docx")
    listed = files_api.client.get(f"{FILES}/{body['id']}/versions", headers=h).json()
    assert listed[0]["name"] == name


# -- content addressing and versions --------------------------------------------------------


def test_identical_content_is_stored_once_with_two_file_rows(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    first = _stored(files_api, h, PDF, name="ban-1.pdf")
    second = _stored(files_api, h, PDF, name="ban-2.pdf")
    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert _objects(files_api) == [key_for(first["sha256"])]
    assert {r.id for r in _rows(files_api.state.sessions)} == {first["id"], second["id"]}
    for f in (first, second):
        got = files_api.client.get(f"{FILES}/{f['id']}", headers=h)
        assert got.content == PDF
        assert _disposition(got.headers["content-disposition"])[1] == f["name"]


def test_new_version_keeps_the_old_one_unchanged(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    v1 = _stored(files_api, h, b"ban du thao 1\n", name="du-thao.txt")
    v2 = _stored(files_api, h, b"ban du thao 2, da sua\n", name="du-thao.txt", previous_id=v1["id"])
    assert v2["version"] == 2 and v2["root_id"] == v1["id"] and v2["previous_id"] == v1["id"]
    v3 = _stored(files_api, h, b"ban cuoi\n", name="chinh-thuc.txt", previous_id=v2["id"])
    assert v3["version"] == 3 and v3["root_id"] == v1["id"]

    for any_id in (v1["id"], v2["id"], v3["id"]):
        listed = files_api.client.get(f"{FILES}/{any_id}/versions", headers=h)
        assert listed.status_code == 200
        assert [(v["id"], v["version"]) for v in listed.json()] == [
            (v1["id"], 1),
            (v2["id"], 2),
            (v3["id"], 3),
        ]
        assert [v["uploaded_by"] for v in listed.json()] == ["chuyenvien"] * 3
    old = files_api.client.get(f"{FILES}/{v1['id']}", headers=h)
    assert old.status_code == 200 and old.content == b"ban du thao 1\n"
    assert old.headers["etag"] == f'"{v1["sha256"]}"'
    assert files_api.client.get(f"{FILES}/{v2['id']}", headers=h).content == (
        b"ban du thao 2, da sua\n"
    )
    assert len(_objects(files_api)) == 3


# -- integrity ------------------------------------------------------------------------------


def test_corrupt_small_object_answers_502_without_the_bytes_and_is_audited(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    _sqlite_lock_waits_fail_fast(files_api)
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="quyet-dinh.pdf")
    corrupt = PDF.replace(b"Catalog", b"Catalob")
    _overwrite_object(files_api, request, key_for(body["sha256"]), corrupt)

    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert b"%PDF" not in got.content
    assert got.status_code == 502, got.text
    assert got.json()["error"] == "integrity_error"
    events = _audit(files_api, "integrity_error", body["id"])
    assert len(events) == 1
    assert body["id"] in events[0].details["message"]


def test_corrupt_large_object_is_cut_short_and_audited(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    _sqlite_lock_waits_fail_fast(files_api)
    h = files_api.login("chuyenvien")
    content = os.urandom(BIG)
    body = _stored(files_api, h, content, name="ban-scan.bin")
    corrupt = os.urandom(BIG)
    _overwrite_object(files_api, request, key_for(body["sha256"]), corrupt)

    with _served(files_api) as base:
        status, received, cut = _fetch(base, f"{FILES}/{body['id']}", h)
    # The headers are out before the hash is known: the body is cut short instead.
    assert cut and len(received) < BIG
    assert received != corrupt and received != content
    assert corrupt.startswith(received)
    assert status in (200, 502)
    assert len(_audit(files_api, "integrity_error", body["id"])) == 1


def test_corrupt_object_longer_than_recorded_is_not_served_complete(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    _sqlite_lock_waits_fail_fast(files_api)
    h = files_api.login("chuyenvien")
    content = os.urandom(BIG)
    body = _stored(files_api, h, content, name="ban-scan.bin")
    corrupt = os.urandom(BIG + 256 * 1024)
    _overwrite_object(files_api, request, key_for(body["sha256"]), corrupt)

    with _served(files_api) as base:
        status, received, cut = _fetch(base, f"{FILES}/{body['id']}", h)
    assert (status, received[:16]) == (200, corrupt[:16])
    assert len(received) < BIG, "a body as long as Content-Length, every byte of it corrupt"


def test_missing_object_answers_410(files_api: Api, request: pytest.FixtureRequest) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, TEXT)
    _remove_object(files_api, request, key_for(body["sha256"]))
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert got.status_code == 410, got.text
    assert got.json()["error"] == "object_missing"


def test_missing_large_object_answers_410(files_api: Api, request: pytest.FixtureRequest) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, os.urandom(BIG))
    _remove_object(files_api, request, key_for(body["sha256"]))
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert got.status_code == 410


# -- size limit -----------------------------------------------------------------------------


@pytest.fixture
def small_limit_api(
    db_url: str,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    store_settings: dict[str, object],
) -> Iterator[Api]:
    """The application with LIENTHONG_MAX_UPLOAD_MB=1, on each database and store."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        demo=True,
        max_upload_mb=1,
        **store_settings,  # type: ignore[arg-type]
    )
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
        yield Api(client, state)
    state.engine.dispose()


def _multipart_pieces(content: bytes, boundary: str, piece: int = 256 * 1024) -> Iterator[bytes]:
    yield (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="lon.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for start in range(0, len(content), piece):
        yield content[start : start + piece]
    yield f"\r\n--{boundary}--\r\n".encode()


def _post_chunked_until_answered(
    base: str, path: str, headers: dict[str, str], pieces: Iterator[bytes]
) -> tuple[int, int]:
    """POST a chunked body (no Content-Length) piece by piece over a socket, stopping as soon
    as the server answers; the status and how many body bytes were sent by then."""
    url = urlsplit(base)
    assert url.hostname and url.port
    sent = 0
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.hostname}", "Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for piece in pieces:
            if io_select.select([sock], [], [], 0.005)[0]:
                break  # answered: a client stops sending here
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer and (data := sock.recv(4096)):
            answer += data
    status_line = answer.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]) if status_line else 0, sent


def test_upload_over_the_limit_is_413_and_leaves_nothing(small_limit_api: Api) -> None:
    api = small_limit_api
    h = api.login("chuyenvien")
    r = _upload(api, h, os.urandom(2 * MB), name="qua-lon.bin")
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "file_too_large"
    assert _objects(api) == []
    assert _rows(api.state.sessions) == []
    tmp = api.state.settings.tmp_dir
    assert not tmp.exists() or list(tmp.iterdir()) == []
    # Exactly at the limit is allowed.
    exact = _upload(api, h, os.urandom(MB), name="vua-du.bin")
    assert exact.status_code == 201, exact.text
    assert exact.json()["size"] == MB


def test_chunked_upload_over_the_limit_is_413_without_receiving_it_all(
    small_limit_api: Api,
) -> None:
    # Through a real server: the TestClient reads a streamed request body whole before the
    # application sees any of it.
    api = small_limit_api
    h = api.login("chuyenvien")
    boundary = "b0undary"
    content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with _served(api) as base:
        status, sent = _post_chunked_until_answered(
            base, FILES, h | content_type, _multipart_pieces(bytes(40 * MB), boundary)
        )
    assert sent < 8 * MB, f"sent {sent // MB} MB of a 40 MB body over a 1 MB limit before an answer"
    assert _objects(api) == [] and _rows(api.state.sessions) == []
    tmp = api.state.settings.tmp_dir
    assert not tmp.exists() or list(tmp.iterdir()) == []
    assert status == 413


# -- soft delete and purge ------------------------------------------------------------------


def test_soft_delete_needs_a_reason_and_records_it(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, TEXT)
    for bad in (None, {}, {"reason": ""}, {"reason": "   "}):
        r = _delete(files_api, h, body["id"], bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"] == "invalid_input"
    r = _delete(files_api, h, body["id"], {"reason": "Tải nhầm tệp"})
    assert r.status_code == 200, r.text
    deleted = r.json()
    assert deleted["delete_reason"] == "Tải nhầm tệp"
    deleted_at = datetime.fromisoformat(deleted["deleted_at"])
    assert abs(deleted_at - datetime.now(UTC)) < timedelta(minutes=1)
    listed = files_api.client.get(f"{FILES}/{body['id']}/versions", headers=h).json()
    assert listed[0]["delete_reason"] == "Tải nhầm tệp" and listed[0]["deleted_at"]
    again = _delete(files_api, h, body["id"], {"reason": "lần nữa"})
    assert again.status_code == 409
    # No new version of a deleted file, and its bytes are no longer served.
    r = _upload(files_api, h, b"sua lai\n", previous_id=body["id"])
    assert r.status_code == 409
    gone = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert gone.status_code == 410 and gone.json()["error"] == "file_deleted"


def test_purge_is_admin_only_and_needs_a_soft_delete_first(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    admin = files_api.login("admin")
    body = _stored(files_api, h, TEXT)
    key = key_for(body["sha256"])
    early = files_api.client.post(f"{FILES}/{body['id']}/purge", headers=admin)
    assert early.status_code == 409, early.text
    assert _delete(files_api, h, body["id"], {"reason": "trùng"}).status_code == 200
    for user in ("chuyenvien", "lanhdao"):
        r = files_api.client.post(f"{FILES}/{body['id']}/purge", headers=files_api.login(user))
        assert r.status_code == 403, r.text
    assert _objects(files_api) == [key]

    _let_age(files_api, key)
    r = _purge(files_api, admin, body["id"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == body["id"] and r.json()["object"] == "removed"
    for who in (h, admin):
        gone = files_api.client.get(f"{FILES}/{body['id']}", headers=who)
        assert gone.status_code == 404 and gone.json()["error"] == "file_not_found"
    assert files_api.client.get(f"{FILES}/{body['id']}/versions", headers=admin).status_code == 404
    assert files_api.client.post(f"{FILES}/{body['id']}/purge", headers=admin).status_code == 404
    assert files_api.state.objects.stat(key) is None
    assert _objects(files_api) == []
    assert len(_audit(files_api, "purge", body["id"])) == 1


def test_purge_keeps_an_object_another_file_still_uses(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    admin = files_api.login("admin")
    first = _stored(files_api, h, PDF, name="a.pdf")
    second = _stored(files_api, h, PDF, name="b.pdf")
    key = key_for(first["sha256"])
    assert _delete(files_api, h, first["id"], {"reason": "bản sao"}).status_code == 200
    r = _purge(files_api, admin, first["id"])
    assert r.status_code == 200 and r.json()["object"] == "shared", r.text
    assert files_api.client.get(f"{FILES}/{first['id']}", headers=h).status_code == 404
    assert _objects(files_api) == [key]
    still = files_api.client.get(f"{FILES}/{second['id']}", headers=h)
    assert still.status_code == 200 and still.content == PDF

    assert _delete(files_api, h, second["id"], {"reason": "hết dùng"}).status_code == 200
    _let_age(files_api, key)
    r = _purge(files_api, admin, second["id"])
    assert r.status_code == 200 and r.json()["object"] == "removed", r.text
    assert _objects(files_api) == []


def test_purge_leaves_bytes_written_within_the_grace_to_the_sweep(files_api: Api) -> None:
    # An upload of the same content writes (or touches) the object seconds before its row
    # commits; a purge in that window must not delete what the upload is about to use.
    files_api.state.settings.purge_grace_seconds = 600
    h, admin = files_api.login("chuyenvien"), files_api.login("admin")
    body = _stored(files_api, h, TEXT)
    key = key_for(body["sha256"])
    assert _delete(files_api, h, body["id"], {"reason": "trùng"}).status_code == 200
    _let_age(files_api, key)  # older than the tests' usual grace, well within this one
    r = _purge(files_api, admin, body["id"])
    assert r.status_code == 200 and r.json()["object"] == "left_to_sweep", r.text
    assert "LIENTHONG_PURGE_GRACE_SECONDS" in r.json()["detail"]
    assert files_api.state.objects.stat(key) is not None
    assert files_api.client.get(f"{FILES}/{body['id']}", headers=admin).status_code == 404


def test_purge_keeps_an_object_an_upload_of_the_same_content_commits_meanwhile(
    files_api: Api,
) -> None:
    # The race: an upload of identical content only refreshes the existing object and its
    # row commits after the purge has looked for other rows. Here the upload's write lands
    # while the purge's row change is flushed but not committed, and its row commits after
    # the purge has answered; the object must still be there for it.
    h = files_api.login("chuyenvien")
    admin = files_api.login("admin")
    body = _stored(files_api, h, PDF, name="cu.pdf")
    key = key_for(body["sha256"])
    assert _delete(files_api, h, body["id"], {"reason": "thay bằng bản mới"}).status_code == 200
    _let_age(files_api, key)  # old enough that, untouched, the purge would delete it
    store = files_api.state.objects
    touched: list[str] = []

    def upload_writes(session: Session, _context: object) -> None:
        purging = [o for o in session.dirty if isinstance(o, StoredFile) and o.purged_at]
        if purging and not touched:
            store.put(key, io.BytesIO(PDF), len(PDF), content_type="application/pdf")
            touched.append(key)

    event.listen(files_api.state.sessions, "after_flush", upload_writes)
    try:
        r = _purge(files_api, admin, body["id"])
    finally:
        event.remove(files_api.state.sessions, "after_flush", upload_writes)
    assert touched and r.status_code == 200, r.text
    assert r.json()["object"] == "left_to_sweep"
    assert "storage sweep" in r.json()["detail"]

    # The upload's row commits now, pointing at the object it refreshed.
    with files_api.state.sessions.begin() as s:
        old = s.get(StoredFile, body["id"])
        assert old is not None and old.purged_at is not None
        new_id = str(uuid.uuid4())
        s.add(
            StoredFile(
                id=new_id,
                root_id=new_id,
                version=1,
                sha256=old.sha256,
                size=old.size,
                media_type=old.media_type,
                name="moi.pdf",
                key=key,
                archived=False,
                agency_id=old.agency_id,
                secrecy=0,
                created_at=datetime.now(UTC),
            )
        )
    got = files_api.client.get(f"{FILES}/{new_id}", headers=h)
    assert got.status_code == 200 and got.content == PDF, got.text


def test_failed_purge_commit_keeps_the_row_and_the_object(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    admin = files_api.login("admin")
    body = _stored(files_api, h, TEXT)
    key = key_for(body["sha256"])
    assert _delete(files_api, h, body["id"], {"reason": "trùng"}).status_code == 200
    _let_age(files_api, key)
    sessions = files_api.state.sessions
    armed = [True]

    def refuse_commit(session: Session) -> None:
        purging = [o for o in session.dirty if isinstance(o, StoredFile) and o.purged_at]
        if armed and purging:
            armed.clear()
            session.flush()  # the row change reaches the database, then the commit fails
            raise RuntimeError("the database refused the commit")

    event.listen(sessions, "before_commit", refuse_commit)
    try:
        r = _purge(files_api, admin, body["id"])
    finally:
        event.remove(sessions, "before_commit", refuse_commit)
    assert not armed and r.status_code == 500, r.text
    # Rolled back: still soft-deleted, not purged, bytes intact.
    row = next(x for x in _rows(files_api.state.sessions) if x.id == body["id"])
    assert row.deleted_at is not None and row.purged_at is None
    assert _objects(files_api) == [key]
    assert _audit(files_api, "purge", body["id"]) == []
    assert b"".join(files_api.state.objects.open(key)) == TEXT

    again = _purge(files_api, admin, body["id"])
    assert again.status_code == 200 and again.json()["object"] == "removed", again.text
    assert _objects(files_api) == []


def test_archived_file_cannot_be_purged_and_its_object_is_locked(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    h = files_api.login("chuyenvien")
    admin = files_api.login("admin")
    body = _stored(files_api, h, PDF, name="ho-so-luu-tru.pdf", record_class="10y")
    assert body["archived"] is True and body["record_class"] == "10y"
    retain_until = datetime.fromisoformat(body["retain_until"])
    assert retain_until - datetime.now(UTC) > timedelta(days=365 * 10 - 2)
    key = key_for(body["sha256"])
    assert _objects(files_api) == [f"archive:{key}"]
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert got.status_code == 200 and got.content == PDF

    assert _delete(files_api, h, body["id"], {"reason": "hết hiệu lực"}).status_code == 200
    r = files_api.client.post(f"{FILES}/{body['id']}/purge", headers=admin)
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "retained"
    assert _objects(files_api) == [f"archive:{key}"]  # the retained object stays

    # The store itself refuses, not only the application.
    with pytest.raises(RetainedObjectError):
        files_api.state.objects.delete(key, archive=True)
    s3 = _s3(files_api, request)
    if s3 is None:
        store = files_api.state.objects
        assert isinstance(store, LocalObjectStore)
        path = store.root / "archive" / key
        assert path.stat().st_mode & 0o222 == 0
    else:
        client = s3.server.client()
        version = client.stat_object(s3.archive, key).version_id
        assert version
        with pytest.raises(S3Error) as refused:
            client.remove_object(s3.archive, key, version_id=version)
        assert refused.value.code == "AccessDenied"
        assert client.stat_object(s3.archive, key, version_id=version).size == len(PDF)
    assert _objects(files_api) == [f"archive:{key}"]  # the retained object stays


def test_archive_retention_covers_the_longest_record_class_of_shared_content(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    h = files_api.login("chuyenvien")
    short = _stored(files_api, h, PDF, name="5-nam.pdf", record_class="5y")
    forever = _stored(files_api, h, PDF, name="vinh-vien.pdf", record_class="permanent")
    assert short["sha256"] == forever["sha256"]
    wanted = datetime.fromisoformat(forever["retain_until"])
    key = key_for(forever["sha256"])
    s3 = _s3(files_api, request)
    if s3 is None:
        store = files_api.state.objects
        assert isinstance(store, LocalObjectStore)
        note = (store.root / "archive" / (key + ".retention")).read_text()
        locked_until = datetime.fromisoformat(re.findall(r'"retain_until": "([^"]+)"', note)[0])
    else:
        retention = s3.server.client().get_object_retention(s3.archive, key)
        assert retention is not None and retention.retain_until_date is not None
        locked_until = retention.retain_until_date
    assert locked_until >= wanted - timedelta(days=1)


# -- access ---------------------------------------------------------------------------------


def test_another_agency_is_refused_and_the_province_admin_can_read(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF)
    other = files_api.login("chuyenvien.so")
    for path in ("", "/versions", "/link"):
        r = files_api.client.get(f"{FILES}/{body['id']}{path}", headers=other)
        assert r.status_code == 403, (path, r.text)
    r = _upload(files_api, other, b"chen phien ban\n", previous_id=body["id"])
    assert r.status_code == 403
    assert _delete(files_api, other, body["id"], {"reason": "x"}).status_code == 403
    got = files_api.client.get(f"{FILES}/{body['id']}", headers=files_api.login("admin"))
    assert got.status_code == 200 and got.content == PDF
    assert files_api.client.get(f"{FILES}/{body['id']}").status_code == 401


def test_secret_file_needs_clearance(files_api: Api) -> None:
    leader = files_api.login("lanhdao")
    specialist = files_api.login("chuyenvien")
    secret = _stored(files_api, leader, b"noi dung mat\n", secrecy=1)
    url = f"{FILES}/{secret['id']}"
    r = files_api.client.get(url, headers=specialist)
    assert r.status_code == 403 and r.json()["error"] == "clearance_required"
    assert files_api.client.get(f"{url}/link", headers=specialist).status_code == 403
    assert files_api.client.get(url, headers=leader).content == b"noi dung mat\n"
    assert files_api.client.get(url, headers=files_api.login("admin")).status_code == 200
    # A new version cannot lower the secrecy.
    v2 = _stored(files_api, leader, b"ban 2\n", secrecy=0, previous_id=secret["id"])
    assert files_api.client.get(f"{FILES}/{v2['id']}", headers=specialist).status_code == 403


def test_secrecy_above_own_clearance_is_refused(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    r = _upload(files_api, h, b"tu danh dau mat\n", secrecy=1)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "secrecy_above_clearance"
    assert _objects(files_api) == [] and _rows(files_api.state.sessions) == []


def test_unknown_file_is_404(files_api: Api) -> None:
    h = files_api.login("admin")
    for file_id in (str(uuid.uuid4()), "khong-co", "x" * 300):
        for path in ("", "/versions", "/link"):
            r = files_api.client.get(f"{FILES}/{file_id}{path}", headers=h)
            assert r.status_code == 404, (file_id, path, r.text)
            assert r.json()["error"] == "file_not_found"
        r = _delete(files_api, h, file_id, {"reason": "x"})
        assert r.status_code == 404


# -- links ----------------------------------------------------------------------------------


def test_link_downloads_without_login(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="Giấy chứng nhận.pdf")
    r = files_api.client.get(f"{FILES}/{body['id']}/link", headers=h)
    assert r.status_code == 200, r.text
    link = r.json()
    ttl = files_api.state.settings.link_ttl_seconds
    expires_at = datetime.fromisoformat(link["expires_at"])
    assert timedelta(seconds=ttl - 10) < expires_at - datetime.now(UTC) <= timedelta(seconds=ttl)
    # Through this server on both backends, never straight to S3.
    assert link["url"].startswith(f"http://testserver{FILES}/{body['id']}/download?")
    got = files_api.client.get(_path_and_query(link["url"]))
    assert got.status_code == 200
    assert got.content == PDF
    disposition = got.headers["content-disposition"]
    assert _disposition(disposition) == ("Giay chung nhan.pdf", "Giấy chứng nhận.pdf")
    assert len(_audit(files_api, "link", body["id"])) == 1


def test_a_link_never_serves_a_corrupt_object(
    files_api: Api, request: pytest.FixtureRequest
) -> None:
    _sqlite_lock_waits_fail_fast(files_api)
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="quyet-dinh.pdf")
    url = files_api.client.get(f"{FILES}/{body['id']}/link", headers=h).json()["url"]
    _overwrite_object(
        files_api, request, key_for(body["sha256"]), PDF.replace(b"Catalog", b"Catalob")
    )
    got = files_api.client.get(_path_and_query(url))
    assert got.status_code == 502 and got.json()["error"] == "integrity_error"
    assert b"%PDF" not in got.content


def test_archived_file_link_is_signed_by_the_server(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="luu-tru.pdf", record_class="5y")
    link = files_api.client.get(f"{FILES}/{body['id']}/link", headers=h).json()
    assert link["url"].startswith(f"http://testserver{FILES}/{body['id']}/download?")
    got = files_api.client.get(_path_and_query(link["url"]))
    assert got.status_code == 200 and got.content == PDF


def test_signed_link_stops_working_once_the_file_is_deleted(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="luu-tru.pdf", record_class="5y")
    url = files_api.client.get(f"{FILES}/{body['id']}/link", headers=h).json()["url"]
    assert files_api.client.get(_path_and_query(url)).content == PDF
    assert _delete(files_api, h, body["id"], {"reason": "ban sai"}).status_code == 200
    normal = files_api.client.get(f"{FILES}/{body['id']}", headers=h)
    assert normal.status_code == 410
    r = files_api.client.get(_path_and_query(url))
    assert r.status_code == 410, r.text
    assert r.json() == normal.json()
    assert r.json()["error"] == "file_deleted" and PDF not in r.content


def test_tampered_or_expired_link_is_refused(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    body = _stored(files_api, h, PDF, name="luu-tru.pdf", record_class="5y")
    other = _stored(files_api, h, TEXT, name="khac.txt", record_class="5y")
    url = files_api.client.get(f"{FILES}/{body['id']}/link", headers=h).json()["url"]
    parts = urlsplit(url)
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    expires, sig = int(query["expires"]), query["sig"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    secret = files_api.state.settings.secret_key
    past = int(time.time()) - 1
    bad = [
        f"{FILES}/{body['id']}/download?expires={expires}&sig={flipped}",
        f"{FILES}/{body['id']}/download?expires={expires + 1}&sig={sig}",
        f"{FILES}/{other['id']}/download?expires={expires}&sig={sig}",
        f"{FILES}/{body['id']}/download?expires={past}&sig={_sign(secret, body['id'], past)}",
        f"{FILES}/{body['id']}/download?expires={expires}&sig=",
    ]
    for path in bad:
        r = files_api.client.get(path)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "bad_link"
        assert PDF not in r.content
    for path in (
        f"{FILES}/{body['id']}/download?expires={expires}",
        f"{FILES}/{body['id']}/download?expires=soon&sig={sig}",
    ):
        assert files_api.client.get(path).status_code == 422
    assert files_api.client.get(_path_and_query(url)).content == PDF


# -- bad input ------------------------------------------------------------------------------


def test_bad_upload_inputs_are_refused_never_500(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    no_file = files_api.client.post(FILES, data={"secrecy": "0"}, headers=h)
    assert no_file.status_code == 422 and no_file.json()["error"] == "invalid_input"
    not_multipart = files_api.client.post(FILES, json={"file": "abc"}, headers=h)
    assert not_multipart.status_code == 422
    r = _upload(files_api, h, TEXT, record_class="99y")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert r.json()["fields"][0]["field"] == "record_class"
    for secrecy in ("9", "-1", "mat"):
        r = _upload(files_api, h, TEXT, secrecy=secrecy)
        assert r.status_code == 422, (secrecy, r.text)
        assert r.json()["fields"][0]["field"] == "secrecy"
    for previous in ("khong-phai-uuid", str(uuid.uuid4()), "../" * 20):
        r = _upload(files_api, h, TEXT, previous_id=previous)
        assert r.status_code == 404, (previous, r.text)
        assert r.json()["error"] == "file_not_found"
    assert _objects(files_api) == [] and _rows(files_api.state.sessions) == []
    empty = _upload(files_api, h, b"", name="...")
    assert empty.status_code == 201, empty.text
    assert empty.json()["size"] == 0 and empty.json()["name"] == "tep-tin"


def test_file_id_with_a_nul_byte_is_404_not_500(files_api: Api) -> None:
    # PostgreSQL refuses NUL in text: the id must be checked before it reaches the query.
    h = files_api.login("admin")
    for path in ("/%00", "/a%00b/versions", "/%00/link"):
        r = files_api.client.get(f"{FILES}{path}", headers=h)
        assert r.status_code == 404, (path, r.text)
    assert _upload(files_api, h, TEXT, previous_id="a\x00b").status_code == 404
    assert _delete(files_api, h, "%00", {"reason": "x"}).status_code == 404
