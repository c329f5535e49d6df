"""`lienthong serve` with several API processes (LIENTHONG_PROCESSES): every process serves
requests with the domain's listeners attached, receptions stay gap-free across processes, and
the worker runs once, in the parent, woken by the API processes' commits."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.nodes import Node, running_nodes, send_document, wait_for
from tests.pki import TestPki

RECEPTION = {
    "procedure_code": "1.001193",
    "applicant": {"full_name": "Trần Thị Bình", "id_number": "001190004321", "phone": "0987654321"},
    "channel": "counter",
    "complete": True,
}


def _api_processes(node: Node) -> list[int]:
    """The process ids of the API servers the node's `serve` process started."""
    assert node.proc is not None
    pid = node.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(c)
        for c in children
        if b"multiprocessing.spawn" in Path(f"/proc/{c}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def served(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Node]:
    node = Node(
        "node-h99",
        "H99",
        tmp_path / "h99",
        extra_env={"LIENTHONG_DATABASE_URL": db_url, "LIENTHONG_PROCESSES": str(request.param)},
    )
    node.data_dir.mkdir()
    node.cli("demo")
    try:
        node.start()  # inside: a start that times out still stops what it started
        yield node
    finally:
        node.stop()


def test_sixty_receptions_at_once_all_succeed_with_unique_gap_free_codes(served: Node) -> None:
    # More at once than a process has threads for requests (40): none may wait for the
    # connection pool inside a thread, or the server stalls until the pool's timeout (503).
    processes = int(served.extra_env["LIENTHONG_PROCESSES"])
    assert len(_api_processes(served)) == (processes if processes > 1 else 0)
    headers = served.headers("tiepnhan")

    def receive(_: int) -> str:
        r = httpx.post(f"{served.url}/api/v1/dossiers", json=RECEPTION, headers=headers, timeout=60)
        assert r.status_code == 201, r.text
        return str(r.json()["code"])

    with ThreadPoolExecutor(60) as pool:
        codes = list(pool.map(receive, range(60)))
    assert len(set(codes)) == 60
    prefixes = {c.rsplit("-", 1)[0] for c in codes}
    assert len(prefixes) == 1  # one agency, one day
    assert sorted(int(c.rsplit("-", 1)[1]) for c in codes) == list(range(1, 61))
    # Every one of them is readable, whichever process answers.
    listed = served.get("tiepnhan", "/api/v1/dossiers?limit=100")
    assert {d["code"] for d in listed["items"]} == set(codes)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    # Outbox rounds five minutes apart: whatever arrives within the test's waits was sent
    # because the commit that queued it rang the outbox's bell, from whichever process.
    with running_nodes(
        tmp_path,
        ["H99", "H98"],
        LIENTHONG_PROCESSES=str(request.param),
        LIENTHONG_EXCHANGE_INTERVAL="300",
    ) as (a, b):
        yield a, b


def test_statuses_go_back_when_officials_work_on_an_api_process(
    two_nodes: tuple[Node, Node],
) -> None:
    # The status owed to the sender is queued by a listener of the incoming workflow; an API
    # process that had not attached it would register the document and send nothing back.
    a, b = two_nodes
    processes = int(a.extra_env["LIENTHONG_PROCESSES"])
    assert len(_api_processes(a)) == len(_api_processes(b)) == (processes if processes > 1 else 0)
    did = send_document(a, TestPki.generate("rsa"), [{"code": "000.01.20.H98", "name": "UBND"}])

    def status() -> str | None:
        (d,) = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
        return d["status_code"]

    wait_for(lambda: status() == "01", "status 01 from node B")
    (copy,) = b.get("vanthu", "/api/v1/documents?direction=incoming")["items"]
    b.do("vanthu", "register", copy["id"], {"decision": "register"})
    b.do("lanhdao", "direct", copy["id"], {"opinion": "Giao văn phòng"})
    wait_for(lambda: status() == "04", "status 04 from node B")
