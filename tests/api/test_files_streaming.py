"""Large files through the real server process: streamed both ways, never held in memory.

The server runs as `lienthong serve --no-worker` in a subprocess over a SQLite file in a
temporary directory; its peak resident set size (`VmHWM`) is read from /proc before and
after a 200 MB upload and download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import S3Buckets

LIENTHONG = shutil.which("lienthong", path=str(Path(sys.executable).parent))
MB = 1024 * 1024
BIG_MB = 200
RSS_GROWTH_LIMIT = 50 * MB
START_TIMEOUT = 30


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def peak_rss(self) -> int:
        """The process's peak resident set size in bytes (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env |= {
        "LIENTHONG_DATA_DIR": str(tmp / "data"),
        "LIENTHONG_DEMO": "1",
        "LIENTHONG_PORT": str(port),
        "LIENTHONG_MAX_UPLOAD_MB": "400",
        # Starlette spools multipart bodies to the system temp dir: keep them in the test's.
        "TMPDIR": str(tmp / "systmp"),
    }
    return env | extra


@contextmanager
def running_server(tmp: Path, extra: dict[str, str] | None = None) -> Iterator[Server]:
    """`lienthong db upgrade`, `lienthong demo`, then `lienthong serve --no-worker`."""
    assert LIENTHONG, f"no `lienthong` console script next to {sys.executable}"
    port = _free_port()
    env = _env(tmp, port, extra or {})
    (tmp / "systmp").mkdir(parents=True, exist_ok=True)
    for args in (["db", "upgrade"], ["demo"]):
        done = subprocess.run(
            [LIENTHONG, *args], env=env, capture_output=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LIENTHONG, "serve", "--no-worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"server exited: {log.read_text()}"
            try:
                if httpx.get(server.base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not up: {log.read_text()}"
            time.sleep(0.2)
        yield server
    finally:
        process.kill()
        process.wait(timeout=10)


def _login(client: httpx.Client, username: str = "chuyenvien") -> None:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": "demo"})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


def _write_random(path: Path, megabytes: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(megabytes):
            piece = os.urandom(MB)
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def _upload(client: httpx.Client, path: Path) -> dict[str, object]:
    with path.open("rb") as source:
        r = client.post(
            "/api/v1/files", files={"file": (path.name, source, "application/octet-stream")}
        )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _download(client: httpx.Client, file_id: object, path: Path) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", f"/api/v1/files/{file_id}") as r, path.open("wb") as out:
        assert r.status_code == 200, r.read()
        for chunk in r.iter_bytes(MB):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _round_trip_in_bounded_memory(tmp: Path, extra: dict[str, str] | None = None) -> None:
    big, back = tmp / "big.bin", tmp / "big.out"
    try:
        with (
            running_server(tmp, extra) as server,
            httpx.Client(base_url=server.base, timeout=120) as client,
        ):
            _login(client)
            tiny = tmp / "tiny.txt"
            tiny.write_bytes(b"xin chao\n")
            small = _upload(client, tiny)
            assert _download(client, small["id"], tmp / "tiny.out") == small["sha256"]
            baseline = server.peak_rss()

            expected = _write_random(big, BIG_MB)
            began = time.monotonic()
            stored = _upload(client, big)
            assert stored["sha256"] == expected and stored["size"] == BIG_MB * MB
            after_upload = server.peak_rss()
            got = _download(client, stored["id"], back)
            elapsed = time.monotonic() - began
            peak = server.peak_rss()
        assert got == expected
        assert back.stat().st_size == BIG_MB * MB
    finally:
        # 200 MB three times over (source, copy, object): not left for pytest's kept temp dirs.
        big.unlink(missing_ok=True)
        back.unlink(missing_ok=True)
        shutil.rmtree(tmp / "data" / "objects", ignore_errors=True)

    growth = peak - baseline
    print(
        f"\nRSS baseline {baseline / MB:.1f} MB, after upload {after_upload / MB:.1f} MB, "
        f"after download {peak / MB:.1f} MB (growth {growth / MB:.1f} MB); "
        f"{BIG_MB} MB up and down in {elapsed:.1f} s"
    )
    assert growth < RSS_GROWTH_LIMIT, f"server RSS grew by {growth / MB:.1f} MB"


def test_200mb_round_trip_in_bounded_memory_with_local_store(tmp_path: Path) -> None:
    _round_trip_in_bounded_memory(tmp_path)


def test_200mb_round_trip_in_bounded_memory_with_s3_store(
    tmp_path: Path, s3_buckets: S3Buckets
) -> None:
    settings = s3_buckets.settings()
    extra = {f"LIENTHONG_{k.upper()}": str(v) for k, v in settings.items()}
    extra["LIENTHONG_S3_SECURE"] = "false"
    _round_trip_in_bounded_memory(tmp_path, extra)


def test_other_requests_go_on_while_a_slow_client_downloads(tmp_path: Path) -> None:
    """On SQLite a request's transaction takes the write lock (BEGIN IMMEDIATE): a download
    must not keep it while the bytes trickle out to a slow client."""
    with (
        running_server(tmp_path) as server,
        httpx.Client(base_url=server.base, timeout=60) as client,
        httpx.Client(base_url=server.base, timeout=5) as other,
    ):
        _login(client)
        _login(other, "lanhdao")
        big = tmp_path / "big.bin"
        _write_random(big, 32)
        stored = _upload(client, big)
        # A slow client far away: a small receive window set before connecting, and it reads
        # no more than the status line, so the server cannot push the file out and be done.
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        with slow:
            slow.connect(("127.0.0.1", int(server.base.rsplit(":", 1)[1])))
            slow.sendall(
                f"GET /api/v1/files/{stored['id']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {client.headers['Authorization']}\r\n\r\n".encode()
            )
            assert slow.recv(64).startswith(b"HTTP/1.1 200 ")
            try:
                r = other.get(f"/api/v1/files/{stored['id']}/versions")
            except httpx.ReadTimeout:
                pytest.fail("another user's request waited more than 5 s behind the download")
            assert r.status_code == 200
