"""Three nodes on 127.0.0.1 (separate processes, databases and object stores) and the faults
of the exchange: a receiver killed mid-request, duplicate delivery, broken signatures,
unknown agencies, hostile XML. Packages are crafted with node A's own key where a test
needs bytes A's outbox would never send."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from engine.exchange.edxml import build_document, parse_status
from engine.exchange.identity import load_identity
from engine.exchange.model import (
    Attachment,
    Code,
    DocumentId,
    DocumentPackage,
    DocumentType,
    MessageHeader,
    Organization,
    PromulgationInfo,
    TraceHeader,
    TraceHeaderList,
)
from signing.keys import SigningKey, load_pkcs12
from signing.xmldsig import sign_package, verify_package
from tests.nodes import Node, running_nodes, send_document, wait_for
from tests.pki import TestPki

SENDER = "000.00.10.H99"  # Sở Tư pháp on node A: the demo department that sends
B_COMMUNE1, B_COMMUNE2 = "000.01.20.H98", "000.02.20.H98"
C_COMMUNE1, A_COMMUNE1 = "000.01.20.H97", "000.01.20.H99"
NOT_SERVED = "000.09.20.H98"  # an H98 code no node serves
UNKNOWN_SENDER = "000.00.10.H96"  # a sending agency no peer serves
SUBJECT = "Về việc kiểm thử trao đổi liên thông"
NODE_KEY_PASSWORD = "lienthong-node"  # engine.exchange.identity's default
UPLOAD_LIMIT_MB = 1  # LIENTHONG_MAX_UPLOAD_MB on every node of this module

_numbers = itertools.count(9001)  # far from the numbers A's register hands out (01, 02, …)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node, Node]]:
    base = tmp_path_factory.mktemp("exchange-faults")
    env = {"LIENTHONG_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB)}
    with running_nodes(base, ["H99", "H98", "H97"], **env) as (a, b, c):
        yield a, b, c


# --- helpers ----------------------------------------------------------------------------


def _node_key(node: Node) -> SigningKey:
    return load_pkcs12((node.data_dir / "exchange" / "node.p12").read_bytes(), NODE_KEY_PASSWORD)


def _certificate(node: Node) -> x509.Certificate:
    pem = httpx.get(f"{node.url}/exchange/v1/node").json()["certificate_pem"]
    return x509.load_pem_x509_certificate(pem.encode())


def _unsigned(to: list[str], *, sender: str = SENDER, size: int = 0) -> tuple[bytes, str]:
    """A fresh edXML document package (its DocumentId never used before), unsigned."""
    number = str(next(_numbers))
    today = dt.date.today()
    document_id = str(DocumentId(sender, today, number, "TEST-LT"))
    header = MessageHeader(
        from_=Organization(organ_id=sender, organ_name="Sở Tư pháp tỉnh Lam Sơn"),
        to=tuple(Organization(organ_id=code, organ_name=f"UBND {code}") for code in to),
        document_id=document_id,
        code=Code(code_number=number, code_notation="TEST-LT"),
        promulgation_info=PromulgationInfo(place="Lam Sơn", promulgation_date=today),
        document_type=DocumentType(type="1", type_name="Công văn"),
        subject=SUBJECT,
    )
    vn = dt.timezone(dt.timedelta(hours=7))
    package = DocumentPackage(
        message_header=header,
        trace_header_list=TraceHeaderList(
            trace_headers=(
                TraceHeader(organ_id=sender, timestamp=dt.datetime.now(vn).replace(microsecond=0)),
            )
        ),
        attachments=(
            Attachment(
                content_id="cid:1",
                name="cong-van.pdf",
                content_type="application/pdf",
                data=b"%PDF-1.4\n" + b"0" * size + b"\n%%EOF\n",
                description="Văn bản chính",
            ),
        ),
    )
    return build_document(package), document_id


def _package(a: Node, to: list[str], **kw: Any) -> tuple[bytes, str]:
    """A fresh document package from A's department, signed with node A's key."""
    xml, document_id = _unsigned(to, **kw)
    return sign_package(xml, _node_key(a)), document_id


def _post(node: Node, data: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{node.url}/exchange/v1/packages",
        content=data,
        headers={"Content-Type": "application/xml"},
        timeout=timeout,
    )


def _incoming(node: Node, exchange_id: str, user: str = "vanthu") -> list[dict[str, Any]]:
    items = node.get(user, "/api/v1/documents?direction=incoming&limit=200")["items"]
    return [d for d in items if d["exchange_id"] == exchange_id]


def _documents_in_db(node: Node, exchange_id: str) -> int:
    # Every agency of the node, users or not (commune 2 has none to ask through the API).
    with closing(_db(node)) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM documents WHERE exchange_id = ?", (exchange_id,)
        ).fetchone()
    return int(n)


def _db(node: Node) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{node.data_dir / 'lienthong.db'}?mode=ro", uri=True, timeout=30)


def _evidence(node: Node, exchange_id: str, kind: str = "package") -> list[tuple[str, str, str]]:
    """(result, recipient, sha256) of what `node` logged receiving, oldest first."""
    with closing(_db(node)) as db:
        rows = db.execute(
            "SELECT result, recipient_code, sha256 FROM exchange_evidence WHERE direction = "
            "'received' AND kind = ? AND exchange_id = ? ORDER BY id",
            (kind, exchange_id),
        ).fetchall()
    return [tuple(r) for r in rows]


def _statuses(a: Node, did: int) -> dict[str, str | None]:
    rows = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
    return {d["recipient_code"]: d["status_code"] for d in rows}


def _assert_json_error(r: httpx.Response, status: int, *codes: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    if codes:
        assert body["error"] in codes, body


def _healthy(node: Node) -> None:
    assert httpx.get(f"{node.url}/healthz", timeout=5).status_code == 200


def _the_receipt(r: httpx.Response, node: Node, recipient: str) -> dict[str, Any]:
    """The one receipt of an answer, its status package checked against `node`'s cert."""
    assert r.status_code == 200, r.text
    (receipt,) = r.json()["receipts"]
    assert receipt["organ_id"] == recipient
    xml = receipt["status_package"].encode()
    verify_package(xml, expected=_certificate(node))
    status = parse_status(xml)
    assert status.from_.organ_id == recipient
    assert status.status_code.value == receipt["status_code"]
    assert (status.description or "") == receipt["description"]
    return {**receipt, "response_for": status.response_for.document_id}


# --- 1. three nodes ---------------------------------------------------------------------


def test_document_to_three_nodes_is_processed_and_every_status_flows_back(
    nodes: tuple[Node, Node, Node], pki: TestPki
) -> None:
    a, b, c = nodes
    recipients = [
        {"code": B_COMMUNE1, "name": "UBND xã Hoà Bình (tỉnh B)"},
        {"code": B_COMMUNE2, "name": "UBND phường Đông Hải (tỉnh B)"},
        {"code": C_COMMUNE1, "name": "UBND xã Hoà Bình (tỉnh C)"},
        {"code": A_COMMUNE1, "name": "UBND xã Hoà Bình"},
    ]
    did = send_document(a, pki, recipients)
    everyone = {r["code"] for r in recipients}
    wait_for(
        lambda: _statuses(a, did) == dict.fromkeys(everyone, "01"),
        "status 01 from every recipient",
        60,
    )
    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]

    # B got one package for its two agencies (one per node), each agency its own copy.
    # (A retry after a slow answer on a loaded machine would only add "duplicate" rows.)
    accepted = [r for r in _evidence(b, exchange_id) if r[0] == "accepted"]
    assert sorted(r[1] for r in accepted) == [B_COMMUNE1, B_COMMUNE2]
    assert len({sha for *_, sha in accepted}) == 1
    assert _documents_in_db(b, exchange_id) == 2
    assert [r[1] for r in _evidence(c, exchange_id) if r[0] == "accepted"] == [C_COMMUNE1]
    assert _documents_in_db(c, exchange_id) == 1

    copies = {n.name: _incoming(n, exchange_id) for n in (b, c)}
    assert all(len(found) == 1 for found in copies.values()), copies
    for node in (b, c):
        copy = copies[node.name][0]
        assert copy["issuer_code"] == SENDER and copy["status"] == "received"

    # The officials of commune 1 on B and C work the arrival; each step's status comes back.
    steps = [
        ("vanthu", "register", {"decision": "register"}, "03"),
        ("lanhdao", "direct", {"opinion": "Giao công chức văn phòng xử lý"}, "04"),
        ("lanhdao", "assign", {"next_assignee": "chuyenvien"}, "05"),
        ("chuyenvien", "process", {"result": "Đã xử lý, báo cáo kèm theo"}, "06"),
    ]
    for user, task, data, code in steps:
        for node in (b, c):
            node.do(user, task, copies[node.name][0]["id"], data)

        def arrived(code: str = code) -> bool:
            now = _statuses(a, did)
            return now[B_COMMUNE1] == code and now[C_COMMUNE1] == code

        wait_for(arrived, f"status {code} from nodes B and C", 60)

    for node in (b, c):
        done = node.get("vanthu", f"/api/v1/documents/{copies[node.name][0]['id']}")
        assert done["status"] == "done" and done["finished_at"] is not None
    assert _documents_in_db(a, exchange_id) == 2  # the original and its own commune's copy
    rows = {
        d["recipient_code"]: d for d in a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
    }
    history = {code: [h["code"] for h in d["history"]] for code, d in rows.items()}
    assert history == {
        B_COMMUNE1: ["01", "03", "04", "05", "06"],
        B_COMMUNE2: ["01"],  # no users there: it waits in the clerks' inbox
        C_COMMUNE1: ["01", "03", "04", "05", "06"],
        A_COMMUNE1: ["01"],
    }
    assert {code: (d["state"], d["local"]) for code, d in rows.items()} == {
        B_COMMUNE1: ("sent", False),
        B_COMMUNE2: ("sent", False),
        C_COMMUNE1: ("sent", False),
        A_COMMUNE1: ("sent", True),
    }
    assert rows[B_COMMUNE1]["status_code"] == "06"
    assert rows[B_COMMUNE1]["status_name"] == "Đã xử lý xong"
    assert rows[C_COMMUNE1]["history"][-1]["description"].endswith("finished")


# --- 3. duplicate delivery --------------------------------------------------------------


def test_the_same_package_twice_gets_the_same_receipt_and_one_incoming_document(
    nodes: tuple[Node, Node, Node],
) -> None:
    a, b, _ = nodes
    data, document_id = _package(a, [B_COMMUNE1])
    first = _the_receipt(_post(b, data), b, B_COMMUNE1)
    again = _the_receipt(_post(b, data), b, B_COMMUNE1)
    keys = ("organ_id", "status_code", "description", "response_for")
    assert [first[k] for k in keys] == [again[k] for k in keys]
    assert (first["status_code"], first["response_for"]) == ("01", document_id)
    assert len(_incoming(b, document_id)) == 1

    # Four more at once (a retry racing a slow first attempt): still one document.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _post(b, data), range(4)))
    assert [_the_receipt(r, b, B_COMMUNE1)["status_code"] for r in answers] == ["01"] * 4
    assert _documents_in_db(b, document_id) == 1
    results = [result for result, *_ in _evidence(b, document_id)]
    assert results == ["accepted"] + ["duplicate"] * 5


# --- 4. broken signatures ---------------------------------------------------------------


def _tampered(data: bytes) -> bytes:
    old = f"<edXML:Subject>{SUBJECT}</edXML:Subject>".encode()
    assert data.count(old) == 1
    return data.replace(old, old.replace("kiểm thử".encode(), "chỉ đạo".encode()))


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("subject_changed_after_signing", "changed after it was signed"),
        ("signed_with_a_key_not_pinned", "not the sending node's registered one"),
        ("not_signed", "carries no XML signature"),
    ],
)
def test_a_package_whose_signature_does_not_hold_is_refused_with_status_02(
    nodes: tuple[Node, Node, Node], tmp_path: Path, breakage: str, reason: str
) -> None:
    a, b, _ = nodes
    xml, document_id = _unsigned([B_COMMUNE1])
    genuine = sign_package(xml, _node_key(a))
    if breakage == "subject_changed_after_signing":
        bad = _tampered(genuine)
    elif breakage == "signed_with_a_key_not_pinned":
        rogue = load_identity("rogue", None, None, tmp_path / "rogue.p12")
        bad = sign_package(xml, rogue.key)
    else:
        bad = xml

    r = _post(b, bad)
    assert r.status_code == 200, r.text
    (receipt,) = r.json()["receipts"]
    # A refusal, with the reason, but not signed: B does not put its signature on a status
    # about a package nobody authenticated (anyone could collect signed statuses that way).
    assert (receipt["organ_id"], receipt["status_code"]) == (B_COMMUNE1, "02")
    assert receipt["status_package"] == ""
    assert reason in receipt["description"]
    assert _documents_in_db(b, document_id) == 0
    assert [r[0] for r in _evidence(b, document_id)][0].startswith("xmldsig_")

    # The refusal does not block the genuine package when it comes.
    assert _the_receipt(_post(b, genuine), b, B_COMMUNE1)["status_code"] == "01"
    assert len(_incoming(b, document_id)) == 1
    assert _incoming(b, document_id)[0]["subject"] == SUBJECT


# --- 5. unknown agencies ----------------------------------------------------------------


def test_a_package_for_an_agency_this_node_does_not_serve_is_a_422(
    nodes: tuple[Node, Node, Node],
) -> None:
    a, b, _ = nodes
    data, document_id = _package(a, [NOT_SERVED])
    r = _post(b, data)
    _assert_json_error(r, 422, "unknown_recipient")
    assert _documents_in_db(b, document_id) == 0


def test_a_package_from_an_agency_no_peer_serves_is_a_422_unknown_sender(
    nodes: tuple[Node, Node, Node],
) -> None:
    a, b, _ = nodes
    data, document_id = _package(a, [B_COMMUNE1], sender=UNKNOWN_SENDER)
    r = _post(b, data)
    _assert_json_error(r, 422, "unknown_sender")
    assert UNKNOWN_SENDER in r.json()["detail"]
    assert _documents_in_db(b, document_id) == 0


# --- 6. hostile XML ---------------------------------------------------------------------

_ENTITIES = ['<!ENTITY lol "lol">'] + [
    f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10)
]
_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(_ENTITIES)}]>'
    '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol9;</edXML>'
)
_EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&xxe;</edXML>'
)
HOSTILE = {
    "billion_laughs": (_LAUGHS.encode(), 422, ("xml_forbidden_dtd",)),
    # UTF-16 hides the DOCTYPE from the byte scan: libxml2's amplification limit stops the
    # parse (xml_malformed), else the parsed tree's DTD is refused.
    "billion_laughs_utf16": (
        _LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"),
        422,
        ("xml_malformed", "xml_forbidden_dtd"),
    ),
    "external_entity": (_EXTERNAL.encode(), 422, ("xml_forbidden_dtd",)),
    "external_entity_utf16": (
        _EXTERNAL.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"),
        422,
        ("xml_forbidden_dtd",),
    ),
    "nested_40_deep": (b"<a>" * 40 + b"</a>" * 40, 422, ("xml_too_deep",)),
    "nested_100000_deep": (
        b"<a>" * 100_000 + b"</a>" * 100_000,
        422,
        ("xml_malformed", "xml_too_deep"),
    ),
    "one_garbage_byte": (b"\x00", 422, ("xml_malformed",)),
    "empty_body": (b"", 422, ("invalid_input", "xml_malformed")),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_xml_is_refused_within_a_second_and_the_node_stays_healthy(
    nodes: tuple[Node, Node, Node], name: str
) -> None:
    _, b, _ = nodes
    body, status, codes = HOSTILE[name]
    started = time.monotonic()
    r = _post(b, body, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"{name} took {elapsed:.2f} s"
    _assert_json_error(r, status, *codes)
    _healthy(b)


def test_a_package_past_the_hard_size_limit_is_a_413_and_the_node_stays_healthy(
    nodes: tuple[Node, Node, Node],
) -> None:
    a, b, _ = nodes
    body = b"<edXML>" + b"A" * (51 * 1024 * 1024) + b"</edXML>"
    r = _post(b, body, timeout=30)
    _assert_json_error(r, 413)
    _healthy(b)
    # and it still takes a genuine package
    data, document_id = _package(a, [B_COMMUNE1])
    assert _the_receipt(_post(b, data), b, B_COMMUNE1)["status_code"] == "01"


def test_a_package_past_lienthong_max_upload_mb_is_a_413(nodes: tuple[Node, Node, Node]) -> None:
    a, b, _ = nodes
    data, document_id = _package(a, [B_COMMUNE1], size=2 * UPLOAD_LIMIT_MB * 1024 * 1024)
    r = _post(b, data)
    _assert_json_error(r, 413)
    assert _documents_in_db(b, document_id) == 0
    _healthy(b)


def test_a_huge_declared_body_is_refused_with_413_before_it_is_read(
    nodes: tuple[Node, Node, Node],
) -> None:
    _, b, _ = nodes
    head = (
        b"POST /exchange/v1/packages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/xml\r\nContent-Length: 4294967296\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        s.sendall(head + b"<edXML>" + b"A" * 65536)
        s.settimeout(1.0)
        answer = b""
        try:
            while chunk := s.recv(65536):  # the server closes after its answer
                answer += chunk
        except TimeoutError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error"' in answer and b'"detail"' in answer
    _healthy(b)


def test_a_refused_package_is_still_in_the_evidence_log(nodes: tuple[Node, Node, Node]) -> None:
    a, b, _ = nodes
    garbage = b"<edXML>not closed"
    unknown, _ = _package(a, [NOT_SERVED])
    for body in (garbage, unknown):
        assert _post(b, body).status_code == 422
    with closing(_db(b)) as db:
        found = {
            sha: result
            for sha, result in db.execute(
                "SELECT sha256, result FROM exchange_evidence WHERE direction = 'received'"
            )
        }
    assert found.get(hashlib.sha256(garbage).hexdigest()) == "xml_malformed"
    assert found.get(hashlib.sha256(unknown).hexdigest()) == "unknown_recipient"


# --- 2. receiver killed mid-request (last: it kills and restarts node B) ----------------


def _read_http_message(sock: socket.socket) -> bytes:
    """One HTTP/1.1 request or response with a Content-Length body, read whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers ended")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the body ended")
        body += chunk
    return head + b"\r\n\r\n" + body


class _CuttingRelay:
    """A TCP relay A's directory points at instead of node B. It passes requests through;
    told to `cut`, it SIGKILLs B (or A, the `sender`) at that point of the next request and
    hangs up on A."""

    def __init__(self, target: Node, sender: Node | None = None) -> None:
        self.target = target
        self.sender = sender
        # "mid_request" | "after_answer" (B dies) | "sender_mid_request" |
        # "sender_after_answer" (A dies)
        self.cut: str | None = None
        self.killed = threading.Event()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _kill(self, victim: Node | None = None) -> None:
        victim = victim or self.target
        assert victim.proc is not None
        victim.proc.kill()
        self.killed.set()

    def _relay(self, client: socket.socket) -> None:
        with client:
            try:
                request = _read_http_message(client)
            except (OSError, ValueError):
                return
            with self._lock:
                cut, self.cut = self.cut, None
            if cut == "sender_mid_request":
                self._kill(self.sender)  # A dies waiting for its answer; B never sees it
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target.port), timeout=30)
            except OSError:
                return  # B is down: A sees the connection close
            with upstream:
                if cut == "mid_request":
                    upstream.sendall(request[: len(request) * 2 // 3])
                    time.sleep(0.3)  # B is now reading a body that will never end
                    self._kill()
                    return
                upstream.sendall(request)
                try:
                    answer = _read_http_message(upstream)
                except (OSError, ValueError):
                    return
                if cut in ("after_answer", "sender_after_answer"):
                    # B has committed and answered; A never hears it (or is gone).
                    self._kill(self.sender if cut == "sender_after_answer" else None)
                    return
                client.sendall(answer)


@contextmanager
def _through(relay: _CuttingRelay, a: Node, b: Node) -> Iterator[None]:
    """Within the block A's directory sends B's packages to the relay; then to B again."""
    agencies = httpx.get(f"{b.url}/exchange/v1/node").json()["agencies"]
    flags = [x for code in agencies for x in ("--agency", code)]
    pem = str(a.data_dir / f"{b.name}.pem")
    a.cli("exchange", "peer", "add", b.name, relay.url, "--cert", pem, *flags)
    try:
        yield
    finally:
        relay.close()
        a.cli("exchange", "peer", "add", b.name, b.url, "--cert", pem, *flags)


def _delivered_once(a: Node, b: Node, did: int, b_saw_a_duplicate: bool) -> dict[str, Any]:
    """B holds one incoming document, its evidence shows the accepted package (and any
    duplicate), and A's delivery is sent with status 01 once; returns that delivery."""
    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]
    assert len(_incoming(b, exchange_id)) == 1
    assert _documents_in_db(b, exchange_id) == 1
    results = [r[0] for r in _evidence(b, exchange_id)]
    assert results[0] == "accepted" and set(results[1:]) <= {"duplicate"}, results
    if b_saw_a_duplicate:
        assert "duplicate" in results, results
    (d,) = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
    assert [h["code"] for h in d["history"]] == ["01"]
    assert d["state"] == "sent" and d["last_error"] is None
    return dict(d)


@pytest.mark.parametrize(
    ("cut", "b_saw_a_duplicate"),
    [
        ("mid_request", False),  # B dies before it has the whole package: nothing kept
        ("after_answer", True),  # B committed and answered, A never heard: A sends again
    ],
)
def test_a_receiver_killed_mid_request_gets_the_package_exactly_once_after_restart(
    nodes: tuple[Node, Node, Node], pki: TestPki, cut: str, b_saw_a_duplicate: bool
) -> None:
    a, b, _ = nodes
    relay = _CuttingRelay(b)
    try:
        with _through(relay, a, b):
            relay.cut = cut
            to = [{"code": B_COMMUNE1, "name": "UBND xã Hoà Bình (tỉnh B)"}]
            did = send_document(a, pki, to)
            assert relay.killed.wait(60), "A's worker never posted to node B"
            assert b.proc is not None
            b.proc.wait(10)

            def failed() -> bool:
                (d,) = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
                return bool(d["state"] == "pending" and d["last_error"] and d["attempts"] >= 1)

            wait_for(failed, "A to record the cut-off attempt")
            b.start()
            wait_for(lambda: _statuses(a, did)[B_COMMUNE1] == "01", "delivery after B restarts", 90)
            assert _delivered_once(a, b, did, b_saw_a_duplicate)["attempts"] >= 2
    finally:
        if b.proc is None or b.proc.poll() is not None:
            b.start()


@pytest.mark.parametrize(
    ("cut", "b_saw_a_duplicate"),
    [
        ("sender_mid_request", False),  # A dies before B has anything
        ("sender_after_answer", True),  # B committed and answered; A died before hearing it
    ],
)
def test_a_sender_killed_mid_request_delivers_exactly_once_when_its_lease_runs_out(
    nodes: tuple[Node, Node, Node], pki: TestPki, cut: str, b_saw_a_duplicate: bool
) -> None:
    a, b, _ = nodes
    # The claim's lease is what brings a dead sender's delivery back: 3 s here, not 2 min.
    lease = {"LIENTHONG_EXCHANGE_LEASE": "3", "LIENTHONG_EXCHANGE_TIMEOUT": "2"}
    a.stop()
    a.extra_env.update(lease)
    a.start()
    relay = _CuttingRelay(b, sender=a)
    try:
        with _through(relay, a, b):
            relay.cut = cut
            to = [{"code": B_COMMUNE1, "name": "UBND xã Hoà Bình (tỉnh B)"}]
            did = send_document(a, pki, to)
            assert relay.killed.wait(60), "A's worker never posted to node B"
            assert a.proc is not None
            a.proc.wait(10)
            a.start()
            wait_for(lambda: _statuses(a, did)[B_COMMUNE1] == "01", "delivery after the lease", 60)
            assert _delivered_once(a, b, did, b_saw_a_duplicate)["attempts"] == 2
    finally:
        a.stop()
        for name in lease:
            a.extra_env.pop(name, None)
        a.start()
