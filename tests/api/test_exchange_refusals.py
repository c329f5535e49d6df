"""A receiving node that refuses a package for good (HTTP 400, 401, 403, 404, 410, 413, 415,
422) is not asked again: the delivery is `refused`, with the peer's code and message, until
the issuing clerk fixes the cause and sends it again. Passing failures (no answer, 408, 425,
429, 5xx) are retried, but not for ever: past the outbox's limit the delivery is `failed`.

Node A is this process's app (its outbox run by hand, with the real HTTP transport); node B
is a real `lienthong serve` on 127.0.0.1 that has not heard of A until a test adds it; a
plain HTTP server stands for a peer behind a proxy answering a given status."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from api.exchange_client import http_send
from engine.exchange.outbox import Outbox
from engine.exchange.peers import add_peer
from signing.xmldsig import sign_package
from storage.models import AuditEvent, Delivery, StatusOutbox
from tests.api.test_documents_api import _do, _doc, _outgoing, _sign_and_upload
from tests.api.test_exchange_faults import _db, _node_key, _unsigned
from tests.cli import Cli, fails, ok
from tests.conftest import Api
from tests.nodes import Node, running_nodes
from tests.pki import TestPki

DEPARTMENT = "000.00.10.H99"  # A's demo department, which sends
A_COMMUNE = "000.01.20.H99"
B_COMMUNE = "000.01.20.H98"
B_DEPARTMENT = "000.00.10.H98"


@pytest.fixture(scope="module")
def b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_nodes(tmp_path_factory.mktemp("refusals"), ["H98"]) as (node,):
        yield node


@pytest.fixture
def node_b(b: Node) -> Iterator[Node]:
    """Node B, forgetting afterwards any node A a test made it trust (each test's A has a
    key of its own)."""
    yield b
    if '"node-a"' in b.cli("exchange", "peer", "list", "--json"):
        b.cli("exchange", "peer", "remove", "node-a", "--yes")


class _Answering(ThreadingHTTPServer):
    """A peer (or the proxy in front of it) answering every POST with one status and body."""

    status = 503
    body = b'{"error": "proxy", "detail": "answered by the test proxy"}'

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = server.body
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def proxy() -> Iterator[_Answering]:
    server = _Answering()
    yield server
    server.shutdown()
    server.server_close()


# --- helpers ----------------------------------------------------------------------------


def _b_pem(b: Node) -> str:
    return str(httpx.get(f"{b.url}/exchange/v1/node").json()["certificate_pem"])


def _peer(api: Api, url: str, pem: str, codes: list[str]) -> None:
    """A's directory: node B at `url`, serving `codes`."""
    with api.state.sessions.begin() as s:
        add_peer(s, "node-b", url, pem, codes)


def _trust_a(b: Node, api: Api, tmp: Path) -> None:
    """B's admin adds node A (its certificate, the agency it sends for)."""
    pem = tmp / "node-a.pem"
    pem.write_text(api.state.node.certificate_pem)
    b.cli("exchange", "peer", "add", "node-a", "http://127.0.0.1:9", "--cert", str(pem),
          "--agency", DEPARTMENT, "--agency", A_COMMUNE)  # fmt: skip


def _outbox(api: Api, give_up: timedelta = timedelta(days=3)) -> Outbox:
    s = api.state
    return Outbox(s.sessions, s.objects, s.node, http_send(5), s.settings.tmp_dir, give_up=give_up)


def _dispatched(api: Api, pki: TestPki, to: list[dict[str, str]]) -> int:
    did = int(_outgoing(api, recipients=to)["id"])
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    _do(api, "vanthu.so", "number", did)
    _sign_and_upload(api, "vanthu.so", did, pki, "seal")
    assert _doc(api, "vanthu.so", did)["status"] == "dispatched"
    return did


def _deliveries(api: Api, did: int) -> dict[tuple[int, str], dict[str, Any]]:
    r = api.client.get(f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so"))
    assert r.status_code == 200, r.text
    return {(d["business_type"], d["recipient_code"]): d for d in r.json()}


def _resend(api: Api, did: int, delivery_id: int | str, user: str = "vanthu.so") -> Any:
    return api.client.post(
        f"/api/v1/documents/{did}/deliveries/{delivery_id}/resend", headers=api.login(user)
    )


def _kinds(api: Api, did: int, user: str = "vanthu.so") -> list[str]:
    return [e["kind"] for e in _doc(api, user, did)["timeline"]]


def _received_at_b(b: Node) -> Counter[str]:
    """What B logged receiving, by result (refusals of an unknown sender carry no
    DocumentId, and each test's node A numbers from 01 again: counted node-wide)."""
    with closing(_db(b)) as db:
        rows = db.execute(
            "SELECT result FROM exchange_evidence WHERE direction = 'received'"
        ).fetchall()
    return Counter(r[0] for r in rows)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TO_B = [{"code": B_COMMUNE, "name": "UBND xã Hoà Bình (tỉnh B)"}]


# --- refused for good -------------------------------------------------------------------


def test_a_node_that_refuses_the_package_is_not_asked_again_until_the_clerk_resends_it(
    api: Api, node_b: Node, pki: TestPki, tmp_path: Path
) -> None:
    # B has never heard of node A: it answers 422 unknown_sender, and would every time.
    _peer(api, node_b.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    outbox = _outbox(api)
    before = _received_at_b(node_b)
    assert outbox.run_once() == 1
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert (d["state"], d["attempts"], d["status_code"]) == ("refused", 1, None)
    assert "HTTP 422 unknown_sender" in d["last_error"] and " / " in d["last_error"]
    assert "delivery_refused" in _kinds(api, did)
    assert outbox.run_once() == 0  # nothing retried, however long the worker runs
    assert _received_at_b(node_b) - before == Counter(unknown_sender=1)

    # B's admin adds node A; A's clerk sends it again, and it arrives.
    _trust_a(node_b, api, tmp_path)
    r = _resend(api, did, d["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["last_error"], r.json()["attempts"]) == ("pending", None, 0)
    assert outbox.run_once() == 1
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert (d["state"], d["status_code"], d["last_error"]) == ("sent", "01", None)
    assert sum((_received_at_b(node_b) - before).values()) == 2  # refused once, then taken
    assert _kinds(api, did)[-2:] == ["delivery_refused", "delivery_resent"]
    with api.state.sessions.begin() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "resend_delivery")).all()
        assert [(e.object_type, e.object_id) for e in audit] == [("delivery", str(d["id"]))]
        assert audit[0].details["state"] == "refused"


def test_a_peer_url_answering_404_is_refused_with_the_answer(
    api: Api, node_b: Node, pki: TestPki
) -> None:
    # A typo in the directory: B's own app answers 404 under that path, for ever.
    _peer(api, f"{node_b.url}/lienthong", _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    outbox = _outbox(api)
    outbox.run_once()
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert d["state"] == "refused" and "HTTP 404" in d["last_error"], d
    assert outbox.run_once() == 0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 415, 422])
def test_every_permanent_4xx_is_a_refusal(
    api: Api, proxy: _Answering, node_b: Node, pki: TestPki, status: int
) -> None:
    proxy.status = status
    _peer(api, proxy.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    _outbox(api).run_once()
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert (d["state"], d["attempts"]) == ("refused", 1)
    assert f"HTTP {status} proxy" in d["last_error"]


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_a_passing_failure_is_retried_with_back_off(
    api: Api, proxy: _Answering, node_b: Node, pki: TestPki, status: int
) -> None:
    proxy.status = status
    _peer(api, proxy.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    outbox = _outbox(api)
    outbox.run_once()
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert (d["state"], d["attempts"]) == ("pending", 1)
    assert str(status) in d["last_error"]
    r = _resend(api, did, d["id"])
    assert r.status_code == 409 and r.json()["error"] == "not_resendable", r.text
    assert "pending" in r.json()["detail"] and " / " in r.json()["detail"]


# --- retried, but not for ever ------------------------------------------------------------


def test_a_node_that_never_answers_is_given_up_on_after_the_limit_and_can_be_resent(
    api: Api, node_b: Node, pki: TestPki, tmp_path: Path
) -> None:
    _peer(api, f"http://127.0.0.1:{_closed_port()}", _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    outbox = _outbox(api, give_up=timedelta(seconds=1))
    outbox.run_once()
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert d["state"] == "pending" and "ConnectError" in d["last_error"]
    time.sleep(1.1)
    with api.state.sessions.begin() as s:  # its back-off over
        s.execute(update(Delivery).values(next_attempt_at=Delivery.created_at))
    assert outbox.run_once() == 1
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    assert (d["state"], d["attempts"]) == ("failed", 2)
    assert "no longer retried" in d["last_error"] and "ConnectError" in d["last_error"]
    assert "delivery_failed" in _kinds(api, did)
    assert outbox.run_once() == 0

    # The node's address is corrected and B trusts A: sent again, it arrives.
    _peer(api, node_b.url, _b_pem(node_b), [B_COMMUNE])
    _trust_a(node_b, api, tmp_path)
    assert _resend(api, did, d["id"]).status_code == 200
    assert outbox.run_once() == 1
    assert _deliveries(api, did)[(0, B_COMMUNE)]["status_code"] == "01"


def test_the_give_up_limit_is_a_setting_of_three_days_by_default(api: Api, tmp_path: Path) -> None:
    from api.exchange_client import outbox_for
    from api.settings import Settings

    assert outbox_for(api.state).give_up == timedelta(days=3)
    hours = Settings(data_dir=tmp_path, demo=True, exchange_give_up_hours=5)
    assert hours.exchange_give_up_hours == 5
    with pytest.raises(ValueError, match="exchange_give_up_hours"):
        Settings(data_dir=tmp_path, demo=True, exchange_give_up_hours=0)


# --- order: a change never overtakes its letter ---------------------------------------------


def test_a_recall_queued_behind_a_refused_letter_is_closed_and_the_letter_not_resent(
    api: Api, node_b: Node, pki: TestPki
) -> None:
    _peer(api, node_b.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    before = _received_at_b(node_b)
    h = api.login("vanthu.so")
    r = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "Nhầm"}, headers=h)
    assert r.status_code == 200, r.text
    _outbox(api).run_once()
    rows = _deliveries(api, did)
    letter, recall = rows[(0, B_COMMUNE)], rows[(1, B_COMMUNE)]
    assert letter["state"] == "refused"
    assert recall["state"] == "undeliverable" and "never reached" in recall["last_error"]
    # The letter, refused; the recall, never sent.
    assert _received_at_b(node_b) - before == Counter(unknown_sender=1)
    # Sent now, the letter would stay live at B: the document was recalled.
    r = _resend(api, did, letter["id"])
    assert r.status_code == 409 and r.json()["error"] == "document_recalled", r.text
    assert _deliveries(api, did)[(0, B_COMMUNE)]["state"] == "refused"


def test_a_later_change_waiting_for_its_answer_keeps_an_earlier_one_from_being_resent(
    api: Api, pki: TestPki
) -> None:
    # Same node: the letter arrives; an update is refused by the commune's node (here: the
    # update row closed by hand as refused), a recall follows and is sent.
    did = _dispatched(api, pki, [{"code": A_COMMUNE, "name": "UBND xã Hoà Bình"}])
    outbox = _outbox(api)
    outbox.run_once()
    h = api.login("vanthu.so")
    r = api.client.post(
        f"/api/v1/documents/{did}/update",
        json={"subject": "Trích yếu đã sửa", "reason": "Sửa trích yếu"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    with api.state.sessions.begin() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.document_id == did, Delivery.business_type == 2)
            .values(state="refused", last_error="refused")
        )
    r = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "Nhầm"}, headers=h)
    assert r.status_code == 200, r.text
    outbox.run_once()
    rows = _deliveries(api, did)
    assert rows[(1, A_COMMUNE)]["state"] == "sent"
    r = _resend(api, did, rows[(2, A_COMMUNE)]["id"])
    assert r.status_code == 409 and r.json()["error"] == "later_change_pending", r.text


# --- who may resend what ----------------------------------------------------------------------


def test_resend_is_for_the_issuing_clerk_or_an_admin_and_only_for_a_closed_delivery(
    api: Api, node_b: Node, pki: TestPki
) -> None:
    _peer(api, node_b.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, [*TO_B, {"code": A_COMMUNE, "name": "UBND xã Hoà Bình"}])
    outbox = _outbox(api)
    outbox.run_once()
    rows = _deliveries(api, did)
    refused, sent = rows[(0, B_COMMUNE)], rows[(0, A_COMMUNE)]
    assert (refused["state"], sent["state"]) == ("refused", "sent")

    r = _resend(api, did, refused["id"], "lanhdao.so")  # reads it, not a clerk
    assert r.status_code == 403 and r.json()["error"] == "role_required", r.text
    assert " / " in r.json()["detail"]
    r = _resend(api, did, refused["id"], "vanthu")  # another agency's clerk: not even seen
    assert r.status_code == 404 and r.json()["error"] == "document_not_found", r.text
    for missing in (sent["id"] + 1000, 0, 2**31, 10**30):
        r = _resend(api, did, missing)
        assert r.status_code == 404 and r.json()["error"] == "delivery_not_found", (missing, r.text)
    r = _resend(api, did, "abc")
    assert r.status_code == 422, r.text
    r = _resend(api, did, sent["id"])
    assert r.status_code == 409 and r.json()["error"] == "not_resendable", r.text
    assert _deliveries(api, did)[(0, A_COMMUNE)]["state"] == "sent"
    assert _deliveries(api, did)[(0, B_COMMUNE)]["state"] == "refused"

    r = _resend(api, did, refused["id"], "admin")
    assert r.status_code == 200 and r.json()["state"] == "pending", r.text
    r = _resend(api, did, refused["id"], "admin")
    assert r.status_code == 409 and r.json()["error"] == "not_resendable", r.text


def test_a_secret_documents_delivery_is_not_resent_over_the_network(api: Api, pki: TestPki) -> None:
    did = int(_outgoing(api, secrecy=1)["id"])
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    _do(api, "vanthu.so", "number", did)
    _sign_and_upload(api, "vanthu.so", did, pki, "seal")
    (d,) = _deliveries(api, did).values()
    assert d["state"] == "undeliverable"
    r = _resend(api, did, d["id"])
    assert r.status_code == 409 and r.json()["error"] == "secret_document", r.text
    assert _deliveries(api, did)[(0, A_COMMUNE)]["state"] == "undeliverable"


# --- statuses back to the sender ----------------------------------------------------------------


def test_a_status_the_senders_node_refuses_is_closed_and_on_the_incoming_documents_timeline(
    api: Api, node_b: Node
) -> None:
    # B's department sent a letter to A's commune (signed with B's node key, which A pins);
    # B itself has never heard of A, so it refuses A's status 03 for good.
    _peer(api, node_b.url, _b_pem(node_b), [B_DEPARTMENT])
    xml, exchange_id = _unsigned([A_COMMUNE], sender=B_DEPARTMENT)
    r = api.client.post(
        "/exchange/v1/packages",
        content=sign_package(xml, _node_key(node_b)),
        headers={"Content-Type": "application/xml"},
    )
    assert r.status_code == 200 and r.json()["receipts"][0]["status_code"] == "01", r.text
    h = api.login("vanthu")
    items = api.client.get("/api/v1/documents?direction=incoming", headers=h).json()["items"]
    (incoming,) = [d for d in items if d["exchange_id"] == exchange_id]
    _do(api, "vanthu", "register", incoming["id"], {"decision": "register"})
    outbox = _outbox(api)
    assert outbox.run_once() == 1
    with api.state.sessions.begin() as s:
        (row,) = s.scalars(select(StatusOutbox)).all()
        assert (row.state, row.status_code, row.attempts) == ("refused", "03", 1)
        assert "HTTP 422 unknown_sender" in (row.last_error or "")
    assert outbox.run_once() == 0
    events = _doc(api, "vanthu", incoming["id"])["timeline"]
    (refused,) = [e for e in events if e["kind"] == "status_refused"]
    assert "unknown_sender" in refused["note"]


def test_the_clerk_sees_and_resends_a_refused_delivery_from_the_command_line(
    api: Api, cli: Cli, proxy: _Answering, node_b: Node, pki: TestPki
) -> None:
    proxy.status = 403
    _peer(api, proxy.url, _b_pem(node_b), [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    _outbox(api).run_once()
    (row,) = ok(cli("document", "deliveries", str(did), "--as", "vanthu.so"))
    assert (row["state"], row["recipient_code"]) == ("refused", B_COMMUNE)
    assert "HTTP 403 proxy" in row["last_error"]
    fails(cli("document", "resend", str(did), str(row["id"]), "--as", "lanhdao.so"), "clerk")
    fails(cli("document", "resend", str(did), str(10**12), "--as", "vanthu.so"), str(10**12))
    sent = ok(cli("document", "resend", str(did), str(row["id"]), "--as", "vanthu.so"))
    assert (sent["id"], sent["state"]) == (row["id"], "pending")
    fails(
        cli("document", "resend", str(did), str(row["id"]), "--as", "vanthu.so"),
        "pending",
    )
