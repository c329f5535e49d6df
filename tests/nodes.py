"""Nodes as separate `lienthong serve` processes on 127.0.0.1, each with its own database and
object store, peered with each other: for the multi-node tests and bench/exchange.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from signing.keys import load_pkcs12
from signing.pades import PadesLevel, PadesSigner
from tests.pki import PASSWORD, TestPki
from tests.signing.pdfs import make_pdf

__all__ = [
    "Node",
    "peer_all",
    "pin_agency_certificates",
    "running_nodes",
    "send_document",
    "wait_for",
]

LIENTHONG = str(Path(sys.executable).with_name("lienthong"))


@dataclass(frozen=True)
class Run:
    """One finished run of the `lienthong` command line."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def text(self) -> str:
        """stdout and stderr with the console's line wrapping undone."""
        return " ".join((self.stdout + " " + self.stderr).split())

    @property
    def error_text(self) -> str:
        """stderr with the console's line wrapping undone."""
        return " ".join(self.stderr.split())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    province: str
    data_dir: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return (
            os.environ
            | {
                "LIENTHONG_DATA_DIR": str(self.data_dir),
                "LIENTHONG_DEMO": "1",
                "LIENTHONG_PORT": str(self.port),
                "LIENTHONG_NODE_NAME": self.name,
                "LIENTHONG_WORKER_INTERVAL": "0.2",
                "LIENTHONG_EXCHANGE_INTERVAL": "0.2",
                "LIENTHONG_EXCHANGE_TIMEOUT": "5",
                "LIENTHONG_DATABASE_URL": "",
            }
            | self.extra_env
        )

    def cli(self, *args: str) -> str:
        r = subprocess.run(
            [LIENTHONG, *args], env=self.env(), capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    def start(self) -> None:
        log = (self.data_dir / "serve.log").open("ab")
        self.proc = subprocess.Popen([LIENTHONG, "serve"], env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, (self.data_dir / "serve.log").read_text()
            time.sleep(0.2)
        raise AssertionError(f"node {self.name} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def headers(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = httpx.post(
                f"{self.url}/api/v1/auth/token", data={"username": user, "password": "demo"}
            )
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user: str, path: str) -> Any:
        r = httpx.get(f"{self.url}{path}", headers=self.headers(user), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, user: str, path: str, **kw: Any) -> Any:
        r = httpx.post(f"{self.url}{path}", headers=self.headers(user), timeout=30, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def do(self, user: str, task: str, doc_id: int, data: dict | None = None) -> None:
        items = self.get(user, "/api/v1/tasks?limit=200")["items"]
        mine = [t for t in items if t["task"] == task and t["business_key"] == f"VB-{doc_id}"]
        assert mine, f"{task} of VB-{doc_id} not in {user}'s inbox on {self.name}"
        self.post(user, f"/api/v1/tasks/{mine[0]['id']}/complete", json={"data": data or {}})


def peer_all(nodes: list[Node]) -> None:
    """Tell every node about every other: URL, pinned certificate, agencies served."""
    for me in nodes:
        for other in nodes:
            if other is me:
                continue
            info = httpx.get(f"{other.url}/exchange/v1/node").json()
            pem = me.data_dir / f"{other.name}.pem"
            pem.write_text(info["certificate_pem"])
            agencies = [x for code in info["agencies"] for x in ("--agency", code)]
            me.cli("exchange", "peer", "add", other.name, other.url, "--cert", str(pem), *agencies)


@contextmanager
def running_nodes(base: Path, provinces: list[str], **env: str) -> Iterator[list[Node]]:
    """Start one demo node per province code (H99, H98, …), peered; stop them afterwards."""
    nodes = [Node(f"node-{p.lower()}", p, base / p.lower(), extra_env=dict(env)) for p in provinces]
    try:
        for n in nodes:
            n.data_dir.mkdir(parents=True)
            n.cli("db", "upgrade")
            n.cli("demo", "--province", n.province)
            n.start()
        peer_all(nodes)
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def wait_for(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def send_document(a: Node, pki: TestPki, recipients: list[dict[str, str]]) -> int:
    """Draft, review, approve, sign (official), number and seal (agency) a document on the
    demo department of node `a`; its dispatch queues one delivery per recipient."""
    f = httpx.post(
        f"{a.url}/api/v1/files",
        files={"file": ("cv.pdf", make_pdf(), "application/pdf")},
        headers=a.headers("chuyenvien.so"),
    ).json()
    doc = a.post(
        "chuyenvien.so",
        "/api/v1/documents",
        json={
            "direction": "outgoing",
            "type_name": "Công văn",
            "notation": "STP-VP",
            "subject": "Về việc phối hợp liên thông giữa hai tỉnh",
            "signer": {"name": "Đỗ Quang Lãnh", "position": "Giám đốc"},
            "recipients": recipients,
            "files": [{"file_id": f["id"], "role": "main"}],
        },
    )
    did = int(doc["id"])
    a.do("chuyenvien.so", "draft", did)
    a.do("lanhdao.so", "review", did, {"decision": "approve"})
    a.do("lanhdao.so", "approve", did, {"decision": "approve"})
    for user, who in (("lanhdao.so", pki.official), ("vanthu.so", pki.seal)):
        if user == "vanthu.so":
            a.do("vanthu.so", "number", did)
        main = [x for x in a.get(user, f"/api/v1/documents/{did}")["files"] if x["role"] == "main"]
        pdf = httpx.get(f"{a.url}/api/v1/files/{main[0]['id']}", headers=a.headers(user)).content
        signed = PadesSigner(load_pkcs12(pki.pkcs12(who), PASSWORD), PadesLevel.B_B).sign(pdf)
        a.post(
            user,
            f"/api/v1/documents/{did}/signed",
            files={"file": ("signed.pdf", signed, "application/pdf")},
        )
    return did


def pin_agency_certificates(me: Node, other: Node) -> str:
    """Add `other` on `me` again, pinning the agencies' certificates it publishes (checked by
    the CLI against its node certificate, which the test takes from `other` directly)."""
    info = httpx.get(f"{other.url}/exchange/v1/node").json()
    pem = me.data_dir / f"{other.name}.pem"
    pem.write_text(info["certificate_pem"])
    agencies = [x for code in info["agencies"] for x in ("--agency", code)]
    return me.cli(
        "exchange", "peer", "add", other.name, other.url, "--cert", str(pem), *agencies,
        "--fetch-agency-certs",
    )  # fmt: skip
