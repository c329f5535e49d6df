"""Storage benchmark: the raw minio SDK against our files API, on the same SeaweedFS, in one run.

Four targets, measured interleaved so their ratios share the machine's noise:

raw    ``minio.Minio.put_object`` / ``get_object(...).stream()`` straight to SeaweedFS;
s3     our server (``lienthong serve`` as a subprocess): ``POST /api/v1/files`` (multipart) and
       ``GET /api/v1/files/{id}`` over one keep-alive urllib3 pool, the object store being the
       same SeaweedFS bucket;
local  the same server with the default local object store (extra, not in the goal);
store  our ``S3ObjectStore`` in this process (extra): SHA-256 and ``put``, ``verified_chunks``
       read to the end: the store against the SDK like with like, without the API around it;
httpx  httpx straight to SeaweedFS with presigned URLs (extra): what another client library costs.

Sizes 1 KB, 1 MB and 50 MB (1 MB = 2**20 bytes); every put sends a payload never sent
before (a fresh 16-byte prefix on random bytes), so content addressing never skips a write.
Goal: s3 >= 0.7x raw for 1 MB and 50 MB, put and get. Writes bench/results/storage.json and
refreshes the table in bench/README.md.

    python bench/storage.py [--rounds R] [--quick] [--ops 100,40,3] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/storage.py` puts bench/, not the repo, on the path
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import urllib3  # noqa: E402
from minio import Minio  # noqa: E402
from minio.commonconfig import ENABLED  # noqa: E402
from minio.versioningconfig import VersioningConfig  # noqa: E402

from bench.common import machine as machine_info  # noqa: E402
from bench.common import publish, version_of  # noqa: E402
from engine.files import verified_chunks  # noqa: E402
from storage.models import StoredFile  # noqa: E402
from storage.objects import key_for  # noqa: E402
from storage.s3 import S3ObjectStore  # noqa: E402
from tests.s3server import REGION, S3Server, find_weed  # noqa: E402

LATEST = "<!-- storage:latest -->"  # inside the section: what follows is refreshed

MB = 1 << 20
SIZES: dict[str, int] = {"1KB": 1024, "1MB": MB, "50MB": 50 * MB}
OPS: dict[str, int] = {"1KB": 100, "1MB": 40, "50MB": 3}  # per round, for put and for get
QUICK_OPS: dict[str, int] = {"1KB": 30, "1MB": 10, "50MB": 1}
GOAL = 0.7
GOAL_SIZES = ("1MB", "50MB")
PART = 16 * MB  # minio part size, as storage/s3.py uses
CHUNK = 1024 * 1024  # read size of both downloads, as storage/objects.py uses
FROM_FILE = 8 * MB  # payloads this large are streamed from a file on disk, not memory
USER, PASSWORD = "chuyenvien", "demo"  # a demo user (LIENTHONG_DEMO=1)
TARGETS = {
    "raw": "minio SDK → SeaweedFS",
    "s3": "lienthong API → SeaweedFS",
    "local": "lienthong API → local object store (extra)",
    "store": "S3ObjectStore in-process → SeaweedFS (extra)",
    "httpx": "httpx → SeaweedFS, presigned URLs (extra, control)",
}
OPERATIONS = ("put", "get")

INTRO = """\
## Storage: `bench/storage.py`

How fast files go into and out of the object store through our API, against the minio SDK
talking to the same S3 server directly. One run starts SeaweedFS (`tests/s3server.py`,
`weed mini`) with a versioned bucket and an object-lock archive bucket (as the tests'
`s3_buckets`), and `lienthong serve --no-worker` as subprocesses (`db upgrade` and `demo` first,
SQLite, `LIENTHONG_DEMO=1`, logged in as `chuyenvien`).

| target | what it measures |
|---|---|
| raw | `Minio.put_object` (16 MB parts, as `storage/s3.py`) and `get_object(...).stream()` read to the end, from the benchmark process, one client for the run. The reference. |
| s3 | our API over one keep-alive urllib3 connection pool — the HTTP library the minio SDK itself uses, so raw and ours differ by the server path, not the client: `POST /api/v1/files` (multipart, streamed from memory or, for 50 MB, from a file on disk) and `GET /api/v1/files/{id}` streamed; the server stores into the same SeaweedFS bucket. Includes authentication, multipart parsing, spooling with SHA-256 and type sniffing, the store's existence check and write, the file row, audit and commit; a download checks the SHA-256 on the way out. |
| local (extra) | the same server with the default local object store. |
| store (extra) | our `S3ObjectStore` in the benchmark process, no API: a put hashes the payload (SHA-256, the content address) and calls `put`; a get reads `engine.files.verified_chunks` to the end (SHA-256 checked). The store against the SDK like with like: the API targets also pay an HTTP hop, authentication, the database and, on get, a SHA-256 the raw SDK read does not. |
| httpx (extra, control) | httpx straight to SeaweedFS with presigned URLs: one streamed PUT (no multipart, no client-side SHA-256), and a GET read to the end. What the client library alone changes: until this run the API targets were measured with httpx, which reads at about half the minio SDK's speed here. |

Goal: **s3 ≥ 0.7 × raw** for 1 MB and 50 MB, put and get.

Sizes are 1 KB, 1 MB and 50 MB (1 MB = 2^20 bytes, MB/s likewise). Every put sends bytes never
sent before (a fresh 16-byte prefix on random data), so content addressing never turns one into a
no-op; only the calls are timed, not making the payloads. Each round runs, size by size, every
target once — N puts, then N gets of those objects, each length checked — in an order rotated
from round to round and size to size; a figure is the median over rounds, a ratio the median of
per-round ratios. Peak RSS is VmHWM from `/proc/<pid>/status`, reset (`clear_refs`) before each
block: the benchmark process for raw (the minio client), the server subprocess for ours. The
machine is shared: the load average is recorded, and single figures move by ±30 % between runs.

```sh
.venv/bin/python bench/storage.py                      # ~3–4 minutes; writes results and this table
.venv/bin/python bench/storage.py --quick --no-write   # ~1–2 minutes, a quick look
```

Options: `--rounds R` (5; 3 with `--quick`), `--quick` (30/10/1 ops per round), `--ops 100,40,3`
(per round, for 1 KB, 1 MB, 50 MB), `--no-local`, `--no-store`, `--no-control`, `--no-write`. The script writes
`bench/results/storage.json` (machine with SeaweedFS version and load, parameters, every round,
medians, ratios, goal booleans, RSS) and refreshes the part below the "Latest run" heading.

Where the time goes (a one-off profile, not part of the script: wall-clock timers patched into a
`lienthong serve` subprocess, same setup, two runs, ms per operation on the shared 2-core box):

| operation | raw | ours (S3) | of which, inside our server |
|---|---:|---:|---|
| 1 MB put | 17–23 | 43–44 | minio `put_object` 17–23 (what raw pays in all), the `stat` (HEAD) before it 3–3.5, multipart receive + parse 3.5–3.9, spool (copy + SHA-256 + libmagic) 2.2–2.4, token → principal 2–2.4, commit 1.1–1.5; FastAPI, threadpool hops and h11 on both ends the rest |
| 1 MB get | 4.4–6 | 19–20 | token → principal 2–2.2, file row + agency 0.9–1.1, S3 GET to headers 5.3, read + SHA-256 6.5 |
| 50 MB put | 610–1200 | 1140–1400 | minio `put_object` 850–1180, multipart receive + parse (Starlette's spooled temp file) 125–175, spool (a second copy + SHA-256) 66–93 |
| 50 MB get | 83–136 | 228–232 | S3 GET to headers 19–35, read + SHA-256 92; about 110 ms more to stream the bytes through `StreamingResponse`, uvicorn/h11 and httpx |

An authenticated request costs about 8 ms even with the local store and a 1 KB file. Patched
experiments against the same SeaweedFS (interleaved, noisy, before `principal_from_token` went
from four queries to two): caching the principal per token took 1 MB gets from 20.5 to 15.3 ms;
skipping the `stat` before a put took 1 MB puts from 0.49 to 0.56 × raw; 1 MB download chunks
instead of 256 KB made no difference within the noise.

### Latest run
"""


class BenchError(RuntimeError):
    """A target failed or returned something unexpected."""


# -- payloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    size: int
    data: bytes | None = None
    path: Path | None = None

    def open(self) -> BinaryIO:
        if self.path is not None:
            return self.path.open("rb")
        assert self.data is not None
        return io.BytesIO(self.data)


class Payloads:
    """Random bytes per size; each `fresh()` payload differs by a new 16-byte prefix.

    Small sizes live in memory; large ones in one file per size whose first 16 bytes are
    rewritten before each put (the rest stays in the page cache).
    """

    def __init__(self, sizes: dict[str, int], tmp: Path) -> None:
        self.sizes = sizes
        self.base: dict[str, bytes] = {}
        self.files: dict[str, Path] = {}
        for name, size in sizes.items():
            if size >= FROM_FILE:
                path = tmp / f"payload-{name}.bin"
                with path.open("wb") as out:
                    for _ in range(0, size, MB):
                        out.write(os.urandom(min(MB, size - out.tell())))
                self.files[name] = path
            else:
                self.base[name] = os.urandom(size)

    def fresh(self, name: str) -> Payload:
        tag = uuid.uuid4().bytes
        if name in self.files:
            path = self.files[name]
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, tag, 0)
            finally:
                os.close(fd)
            return Payload(self.sizes[name], path=path)
        return Payload(self.sizes[name], data=tag + self.base[name][len(tag) :])


# -- targets --------------------------------------------------------------------------------


class Target(Protocol):
    name: str
    pid: int  # the process whose peak RSS is charged to this target

    def put(self, payload: Payload) -> str: ...

    def get(self, ref: str) -> int: ...


class Raw:
    """The minio SDK in this process, one client (one urllib3 pool) for the whole run."""

    name = "raw"

    def __init__(self, server: S3Server, bucket: str) -> None:
        self.client = Minio(
            server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
            secure=False,
            region=REGION,
        )
        self.bucket = bucket
        self.pid = os.getpid()

    def put(self, payload: Payload) -> str:
        key = f"raw/{uuid.uuid4().hex}"
        with payload.open() as source:
            self.client.put_object(self.bucket, key, source, payload.size, part_size=PART)
        return key

    def get(self, ref: str) -> int:
        response = self.client.get_object(self.bucket, ref)
        try:
            return sum(len(chunk) for chunk in response.stream(CHUNK))
        finally:
            response.close()
            response.release_conn()


class Store:
    """Our S3ObjectStore in this process: the store's cost without the API around it."""

    name = "store"

    def __init__(self, server: S3Server, bucket: str) -> None:
        self.store = S3ObjectStore(
            server.endpoint,
            server.access_key,
            server.secret_key,
            bucket,
            bucket + "-arch",
            secure=False,
            region=REGION,
        )
        self.rows: dict[str, StoredFile] = {}
        self.pid = os.getpid()

    def put(self, payload: Payload) -> str:
        with payload.open() as source:
            digest = hashlib.file_digest(source, "sha256").hexdigest()
            source.seek(0)
            key = key_for(digest)
            self.store.put(key, source, payload.size)
        ref = uuid.uuid4().hex
        self.rows[ref] = StoredFile(
            id=ref, key=key, size=payload.size, sha256=digest, archived=False
        )
        return ref

    def get(self, ref: str) -> int:
        def mismatch(message: str) -> None:
            raise BenchError(message)

        row = self.rows.pop(ref)
        return sum(len(chunk) for chunk in verified_chunks(self.store, row, mismatch))


class Presigned:
    """Control: httpx straight to SeaweedFS with presigned URLs.

    A put is one presigned PUT streamed from the payload (no multipart, and no client-side
    SHA-256, which the SDK computes for its signature on plain HTTP); a get is a presigned
    GET read to the end. It shows what the client library alone costs against the SDK's.
    """

    name = "httpx"

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.http = httpx.Client(timeout=httpx.Timeout(300.0))
        self.pid = os.getpid()

    def _url(self, method: str, key: str) -> str:
        return self.raw.client.get_presigned_url(
            method, self.raw.bucket, key, expires=timedelta(hours=1)
        )

    def put(self, payload: Payload) -> str:
        key = f"httpx/{uuid.uuid4().hex}"
        with payload.open() as source:
            r = self.http.put(self._url("PUT", key), content=source)
        if r.status_code != 200:
            raise BenchError(f"httpx: presigned PUT: {r.status_code} {r.text[:300]}")
        return key

    def get(self, ref: str) -> int:
        with self.http.stream("GET", self._url("GET", ref)) as r:
            if r.status_code != 200:
                r.read()
                raise BenchError(f"httpx: presigned GET: {r.status_code} {r.text[:300]}")
            return sum(len(chunk) for chunk in r.iter_raw(CHUNK))

    def close(self) -> None:
        self.http.close()


class ApiServer:
    """`lienthong serve --no-worker` in a subprocess on a fresh SQLite data directory."""

    def __init__(self, name: str, root: Path, store_env: dict[str, str]) -> None:
        self.name = name
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
        self.env.update(
            {
                "LIENTHONG_DATA_DIR": str(root / "data"),
                "LIENTHONG_DEMO": "1",
                "LIENTHONG_PORT": str(self.port),
                "LIENTHONG_MAX_UPLOAD_MB": "200",
                **store_env,
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _cli(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "lienthong"), *args]

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for args in (("db", "upgrade"), ("demo",)):
            done = subprocess.run(
                self._cli(*args), env=self.env, cwd=self.root, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise BenchError(f"lienthong {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self._cli("serve", "--no-worker"),
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} server exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise BenchError(
            f"{self.name} server not healthy after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class Api:
    """Our files API over one keep-alive urllib3 pool (the minio SDK's own HTTP library, so
    raw and ours differ by the server path, not the client), logged in as a demo user."""

    def __init__(self, name: str, server: ApiServer) -> None:
        self.name = name
        self.server = server
        self.pid = server.pid
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.http = urllib3.HTTPConnectionPool(
            host, int(port), maxsize=1, timeout=urllib3.Timeout(300.0), retries=False
        )
        r = self.http.request(
            "POST",
            "/api/v1/auth/token",
            fields={"username": USER, "password": PASSWORD},
            encode_multipart=False,
        )
        if r.status != 200:
            raise BenchError(f"{name}: login failed: {r.status} {r.data[:300]!r}")
        self.auth = {"Authorization": f"Bearer {json.loads(r.data)['access_token']}"}

    def put(self, payload: Payload) -> str:
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="payload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body(source: BinaryIO) -> Iterator[bytes]:
            yield head
            while chunk := source.read(CHUNK):
                yield chunk
            yield tail

        with payload.open() as source:
            r = self.http.urlopen(
                "POST",
                "/api/v1/files",
                body=body(source),
                headers={
                    **self.auth,
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(head) + payload.size + len(tail)),
                },
            )
        if r.status != 201:
            raise BenchError(f"{self.name}: upload: {r.status} {r.data[:300]!r}")
        return str(json.loads(r.data)["id"])

    def get(self, ref: str) -> int:
        r = self.http.urlopen(
            "GET", f"/api/v1/files/{ref}", headers=self.auth, preload_content=False
        )
        try:
            if r.status != 200:
                raise BenchError(f"{self.name}: download: {r.status} {r.read()[:300]!r}")
            return sum(len(chunk) for chunk in r.stream(CHUNK))
        finally:
            r.release_conn()

    def close(self) -> None:
        self.http.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when this process dies (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# -- memory ---------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """VmHWM (peak RSS since start or the last reset) or VmRSS of a process, in MB."""
    kb = _status_kb(pid, field)
    return None if kb is None else round(kb / 1024, 1)


def reset_peak(pid: int) -> None:
    """Reset a process's VmHWM to its current RSS (Linux: write 5 to clear_refs)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


# -- measuring ------------------------------------------------------------------------------


def put_block(target: Target, payloads: Payloads, size: str, count: int) -> tuple[float, list[str]]:
    """Ops/s of `count` puts; only the calls are timed, not making the payloads."""
    gc.collect()
    refs: list[str] = []
    spent = 0.0
    for _ in range(count):
        payload = payloads.fresh(size)
        started = time.perf_counter()
        refs.append(target.put(payload))
        spent += time.perf_counter() - started
    return count / spent, refs


def get_block(target: Target, refs: list[str], size: int) -> float:
    """Ops/s of reading every object of `refs` to the end; checks each length."""
    gc.collect()
    spent = 0.0
    for ref in refs:
        started = time.perf_counter()
        got = target.get(ref)
        spent += time.perf_counter() - started
        if got != size:
            raise BenchError(f"{target.name}: read {got} bytes of {ref}, expected {size}")
    return len(refs) / spent


@dataclass
class Run:
    targets: dict[str, Target]
    pids: dict[str, int]  # bench, seaweedfs, server_s3, server_local
    rates: dict[str, dict[str, dict[str, list[float]]]]  # size -> target -> op -> per round
    peaks: dict[str, dict[str, dict[str, float]]]  # size -> target -> process -> max peak MB
    idle: dict[str, float | None]  # RSS of each process after warm-up, MB
    warmup_peaks: dict[str, float | None]


def measure(
    targets: dict[str, Target],
    pids: dict[str, int],
    payloads: Payloads,
    ops: dict[str, int],
    rounds: int,
) -> Run:
    """Every round runs each size on each target (put block, then get block of those objects),
    the target order rotated from round to round and size to size."""
    for target in targets.values():  # warm connections, imports, libmagic, first volumes
        for size in ops:
            _, refs = put_block(target, payloads, size, 1)
            get_block(target, refs, SIZES[size])
    warmup_peaks = {p: rss_mb(pid) for p, pid in pids.items()}
    idle = {p: rss_mb(pid, "VmRSS") for p, pid in pids.items()}
    names = list(targets)
    run = Run(
        targets,
        pids,
        rates={s: {t: {op: [] for op in OPERATIONS} for t in names} for s in ops},
        peaks={s: {t: {} for t in names} for s in ops},
        idle=idle,
        warmup_peaks=warmup_peaks,
    )
    for r in range(rounds):
        started = time.perf_counter()
        line = []
        for i, size in enumerate(ops):
            shift = (r + i) % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                for pid in pids.values():
                    reset_peak(pid)
                put_rate, refs = put_block(targets[name], payloads, size, ops[size])
                get_rate = get_block(targets[name], refs, SIZES[size])
                run.rates[size][name]["put"].append(put_rate)
                run.rates[size][name]["get"].append(get_rate)
                for proc, pid in pids.items():
                    peak = rss_mb(pid)
                    if peak is not None:
                        seen = run.peaks[size][name]
                        seen[proc] = max(seen.get(proc, 0.0), peak)
            line.append(
                f"{size}: "
                + " ".join(
                    f"{n}={run.rates[size][n]['put'][-1]:.1f}/{run.rates[size][n]['get'][-1]:.1f}"
                    for n in names
                )
            )
        took = time.perf_counter() - started
        print(
            f"round {r + 1}/{rounds} ({took:.0f} s, put/get ops/s): " + "  ".join(line), flush=True
        )
    return run


# -- results --------------------------------------------------------------------------------


def summarise(run: Run) -> dict[str, Any]:
    results: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for size, by_target in run.rates.items():
        results[size] = {}
        for name, by_op in by_target.items():
            results[size][name] = {}
            for op, rates in by_op.items():
                med = statistics.median(rates)
                results[size][name][op] = {
                    "ops_s": round(med, 2),
                    "mb_s": round(med * SIZES[size] / MB, 2),
                    "ms_op": round(1000 / med, 2),
                    "rounds": [round(x, 2) for x in rates],
                }
        ratios[size] = {}
        raw = by_target.get("raw")
        for name in by_target:
            if name == "raw" or raw is None:
                continue
            ratios[size][f"{name}/raw"] = {
                op: round(
                    statistics.median(
                        x / y for x, y in zip(by_target[name][op], raw[op], strict=True)
                    ),
                    3,
                )
                for op in OPERATIONS
            }
    goal: dict[str, Any] = {"threshold": GOAL}
    for size in GOAL_SIZES:
        for op in OPERATIONS:
            ratio = ratios.get(size, {}).get("s3/raw", {}).get(op)
            goal[f"{size} {op}"] = None if ratio is None else ratio >= GOAL
    checked = [v for k, v in goal.items() if k != "threshold"]
    goal["met"] = bool(checked) and all(v is True for v in checked)
    lifetime = {
        proc: max(
            [p for p in [run.warmup_peaks.get(proc)] if p is not None]
            + [
                peaks[proc]
                for by_target in run.peaks.values()
                for peaks in by_target.values()
                if proc in peaks
            ],
            default=0.0,
        )
        for proc in run.pids
    }
    return {
        "results": results,
        "ratios": ratios,
        "goal": goal,
        "rss_mb": {
            "idle_after_warmup": run.idle,
            "peak_over_run": lifetime,
            "peak_by_size": run.peaks,
            "note": "VmHWM from /proc/<pid>/status, reset (clear_refs) before each block: "
            "'bench' is this process (the raw minio client, and the urllib3 client of the API "
            "targets), 'server_*' the API server subprocesses, 'seaweedfs' the weed process.",
        },
    }


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _size(name: str) -> str:
    return name.replace("KB", " KB").replace("MB", " MB")


def table(result: dict[str, Any]) -> str:
    rows = [
        "| size | target | put ops/s | put MB/s | put × raw | get ops/s | get MB/s | get × raw |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, by_target in result["results"].items():
        for name in TARGETS:
            if name not in by_target:
                continue
            cells = [_size(size), f"{name}: {TARGETS[name]}"]
            for op in OPERATIONS:
                figures = by_target[name][op]
                ratio = 1.0 if name == "raw" else result["ratios"][size][f"{name}/raw"][op]
                text = f"{ratio:.2f}"
                cells += [
                    _fmt(figures["ops_s"]),
                    _fmt(figures["mb_s"]),
                    f"**{text}**" if name == "s3" and size in GOAL_SIZES else text,
                ]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def rss_table(result: dict[str, Any]) -> str:
    rss = result["rss_mb"]
    rows = [
        "| size | raw: bench process (minio client) | ours S3: API server | "
        "ours local: API server | SeaweedFS (raw / ours S3) |",
        "|---|---:|---:|---:|---:|",
    ]
    for size, by_target in rss["peak_by_size"].items():

        def peak(target: str, proc: str, by: dict[str, Any] = by_target) -> str:
            value = by.get(target, {}).get(proc)
            return "n/a" if value is None else f"{value:.0f}"

        rows.append(
            f"| {_size(size)} | {peak('raw', 'bench')} | "
            f"{peak('s3', 'server_s3')} | {peak('local', 'server_local')} | "
            f"{peak('raw', 'seaweedfs')} / {peak('s3', 'seaweedfs')} |"
        )
    idle = rss["idle_after_warmup"]
    cells = [idle.get(p) for p in ("bench", "server_s3", "server_local", "seaweedfs")]
    rows.append(
        "| idle (after warm-up) | "
        + " | ".join("n/a" if c is None else f"{c:.0f}" for c in cells)
        + " |"
    )
    return "\n".join(rows)


def goal_line(result: dict[str, Any]) -> str:
    goal = result["goal"]
    parts = []
    for size in GOAL_SIZES:
        for op in OPERATIONS:
            ratio = result["ratios"].get(size, {}).get("s3/raw", {}).get(op)
            if ratio is not None:
                mark = "✔" if goal[f"{size} {op}"] else "✘"
                parts.append(f"{_size(size)} {op} {ratio:.2f} {mark}")
    state = "met" if goal["met"] else "NOT met"
    return (
        f"Goal ours (S3) ≥ {GOAL} × raw for 1 MB and 50 MB, put and get: **{state}** "
        f"({', '.join(parts)}). Ratios are medians of per-round ratios."
    )


def readme_block(result: dict[str, Any]) -> str:
    """The refreshed part of the section: everything after the LATEST marker."""
    p, m = result["parameters"], result["machine"]
    ops = ", ".join(f"{n} × {_size(s)}" for s, n in p["ops"].items())
    load = m.get("loadavg_1_5_15_before", ["?"])[0], m.get("loadavg_1_5_15_after", ["?"])[0]
    return "\n".join(
        [
            f"Latest run: {result['date']}; {p['rounds']} interleaved rounds of {ops} puts "
            f"(then as many gets) per target; Python {m['python']}, {m['cpu_count']} CPUs, "
            f"{m['platform']}, SeaweedFS {m['seaweedfs']}, minio {m['minio']}, "
            f"uvicorn {m['uvicorn']} (h11{', httptools' if m.get('httptools') else ''}), "
            f"httpx {m['httpx']}; load average {load[0]} before, {load[1]} after.",
            "",
            table(result),
            "",
            goal_line(result),
            "",
            "Peak RSS (MB, VmHWM; the highest over the rounds of one size, reset before each block):",
            "",
            rss_table(result),
        ]
    )


def readme_section(result: dict[str, Any]) -> Any:
    """The section: its intro as the README has it (INTRO when new), then the latest run."""
    latest = readme_block(result)

    def section(current: str | None) -> str:
        intro = (
            current.partition(LATEST)[0] if current and LATEST in current else "\n" + INTRO + "\n"
        )
        return f"{intro}{LATEST}\n{latest}\n"

    return section


def machine(weed: Path) -> dict[str, Any]:
    out = subprocess.run([str(weed), "version"], capture_output=True, text=True, timeout=30)
    build = out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"
    number = re.search(r"\b\d+\.\d+(\.\d+)?\b", build)
    return machine_info(
        seaweedfs=number.group(0) if number else build,
        seaweedfs_build=build,
        **{
            dist.replace("-", "_"): version_of(dist)
            for dist in (
                "minio",
                "urllib3",
                "httpx",
                "uvicorn",
                "h11",
                "httptools",
                "uvloop",
                "fastapi",
                "starlette",
                "python-multipart",
                "SQLAlchemy",
            )
        },
    )


# -- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stack(
    tmp: Path, local: bool, control: bool, store: bool = True
) -> Iterator[tuple[dict[str, Target], dict[str, int], S3Server]]:
    """SeaweedFS, the buckets, both API servers and the clients; everything stopped after."""
    with contextlib.ExitStack() as stack_:
        s3 = S3Server.start(tmp / "seaweedfs")
        stack_.callback(s3.stop)
        admin = s3.client()
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        admin.make_bucket(bucket)
        admin.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
        admin.make_bucket(bucket + "-arch", object_lock=True)
        s3_env = {
            "LIENTHONG_OBJECT_STORE": "s3",
            "LIENTHONG_S3_ENDPOINT": s3.endpoint,
            "LIENTHONG_S3_ACCESS_KEY": s3.access_key,
            "LIENTHONG_S3_SECRET_KEY": s3.secret_key,
            "LIENTHONG_S3_SECURE": "false",
            "LIENTHONG_S3_REGION": REGION,
            "LIENTHONG_S3_BUCKET": bucket,
            "LIENTHONG_S3_ARCHIVE_BUCKET": bucket + "-arch",
        }
        servers = {"s3": ApiServer("s3", tmp / "api-s3", s3_env)}
        if local:
            servers["local"] = ApiServer("local", tmp / "api-local", {})
        raw = Raw(s3, bucket)
        targets: dict[str, Target] = {"raw": raw}
        pids = {"bench": os.getpid(), "seaweedfs": s3.pid or 0}
        for name, server in servers.items():
            stack_.callback(server.stop)
            server.start()
            api = Api(name, server)
            stack_.callback(api.close)
            targets[name] = api
            pids[f"server_{name}"] = server.pid
        if store:
            targets["store"] = Store(s3, bucket)
        if control:
            presigned = Presigned(raw)
            stack_.callback(presigned.close)
            targets["httpx"] = presigned
        try:
            yield targets, pids, s3
        except BaseException:
            for server in servers.values():
                print(f"--- {server.name} server log tail:\n{server.log_tail()}", file=sys.stderr)
            raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="interleaved rounds (median reported); 5, quick 3")
    ap.add_argument(
        "--quick", action="store_true", help=f"fewer ops per round ({QUICK_OPS}) and 3 rounds"
    )
    ap.add_argument(
        "--ops",
        help=f"ops per round as 1KB,1MB,50MB (default {','.join(map(str, OPS.values()))})",
    )
    ap.add_argument("--no-local", action="store_true", help="skip the local-store server")
    ap.add_argument("--no-store", action="store_true", help="skip the in-process store")
    ap.add_argument("--no-control", action="store_true", help="skip the httpx control")
    ap.add_argument("--no-write", action="store_true", help="do not write results or README")
    args = ap.parse_args(argv)
    ops = dict(QUICK_OPS if args.quick else OPS)
    if args.ops:
        ops = dict(zip(SIZES, (int(x) for x in args.ops.split(",")), strict=True))
    rounds = args.rounds or (3 if args.quick else 5)
    started = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-storage-") as tmp_name:
        tmp = Path(tmp_name)
        payloads = Payloads(SIZES, tmp)
        with stack(tmp, not args.no_local, not args.no_control, not args.no_store) as (
            targets,
            pids,
            _,
        ):
            run = measure(targets, pids, payloads, ops, rounds)
    result = {
        "benchmark": "storage",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine(find_weed()),
            # Other work on the machine shifts every figure; the ratios less so.
            "loadavg_1_5_15_before": [round(x, 2) for x in load_before],
            "loadavg_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
        },
        "parameters": {
            "rounds": rounds,
            "ops": ops,
            "sizes_bytes": SIZES,
            "quick": args.quick,
            "part_size": PART,
            "read_chunk": CHUNK,
            "payloads_from_file_from_bytes": FROM_FILE,
            "targets": TARGETS,
            "goal": f"s3/raw >= {GOAL} for {', '.join(GOAL_SIZES)}, put and get",
        },
        **summarise(run),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print()
    print(table(result))
    print()
    print(goal_line(result))
    print()
    print(rss_table(result))
    print(f"\nrun took {result['seconds']} s")
    if not args.no_write:
        written = publish("storage", result, readme_section(result))
        print(f"wrote {' and '.join(str(p.relative_to(REPO)) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
