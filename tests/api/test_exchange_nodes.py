"""Two nodes on 127.0.0.1, each its own process, database and object store, exchanging
signed edXML packages over HTTP: delivery, statuses back, a node that is down at send time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.nodes import Node, running_nodes, send_document, wait_for
from tests.pki import TestPki


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    with running_nodes(tmp_path, ["H99", "H98"]) as (a, b):
        yield a, b


def _statuses(a: Node, did: int) -> dict[str, str | None]:
    rows = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
    return {d["recipient_code"]: d["status_code"] for d in rows}


def test_signed_document_reaches_two_agencies_on_another_node_and_one_on_its_own(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    pki = TestPki.generate("rsa")
    recipients = [
        {"code": "000.01.20.H98", "name": "UBND xã Hoà Bình (tỉnh B)"},
        {"code": "000.02.20.H98", "name": "UBND phường Đông Hải (tỉnh B)"},
        {"code": "000.01.20.H99", "name": "UBND xã Hoà Bình"},
    ]
    did = send_document(a, pki, recipients)
    wait_for(lambda: set(_statuses(a, did).values()) == {"01"}, "status 01 from every recipient")

    exchange_id = a.get("vanthu.so", f"/api/v1/documents/{did}")["exchange_id"]
    arrived = b.get("vanthu", "/api/v1/documents?direction=incoming")["items"]
    assert [d["exchange_id"] for d in arrived] == [exchange_id]
    copy = b.get("vanthu", f"/api/v1/documents/{arrived[0]['id']}")
    assert copy["issuer_code"] == "000.00.10.H99" and copy["code"] == "01/STP-VP"
    pdf = httpx.get(
        f"{b.url}/api/v1/files/{copy['files'][0]['id']}", headers=b.headers("vanthu")
    ).content
    assert pdf.count(b"/ByteRange") == 2  # the official's and the agency's signatures travel

    # B's clerk registers it; the leader directs it: 03 then 04 come back to A over HTTP.
    b.do("vanthu", "register", copy["id"], {"decision": "register"})
    b.do("lanhdao", "direct", copy["id"], {"opinion": "Giao văn phòng"})
    wait_for(lambda: _statuses(a, did)["000.01.20.H98"] == "04", "status 04 from node B")
    history = [
        h["code"]
        for d in a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
        if d["recipient_code"] == "000.01.20.H98"
        for h in d["history"]
    ]
    assert history == ["01", "03", "04"]


def test_a_node_that_is_down_at_send_time_gets_the_package_when_it_returns(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    pki = TestPki.generate("rsa")
    b.stop()
    did = send_document(a, pki, [{"code": "000.01.20.H98", "name": "UBND xã Hoà Bình (tỉnh B)"}])

    def failed_once() -> bool:
        (d,) = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
        return bool(d["attempts"] >= 1 and d["last_error"] and d["state"] == "pending")

    wait_for(failed_once, "a failed attempt while node B is down")
    b.start()
    wait_for(
        lambda: _statuses(a, did)["000.01.20.H98"] == "01", "delivery after node B returns", 60
    )
    assert len(b.get("vanthu", "/api/v1/documents?direction=incoming")["items"]) == 1


def test_a_recall_made_while_the_receiver_is_down_follows_the_document_there(
    nodes: tuple[Node, Node],
) -> None:
    # The letter to node B is still queued when it is recalled: B must get the letter and
    # then the recall, never the letter alone (it would stay live there for good).
    a, b = nodes
    pki = TestPki.generate("rsa")
    far, near = "000.01.20.H98", "000.01.20.H99"
    b.stop()
    did = send_document(a, pki, [{"code": far, "name": "Xã B"}, {"code": near, "name": "Xã A"}])

    def deliveries() -> dict[tuple[int, str], dict]:
        rows = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
        return {(d["business_type"], d["recipient_code"]): d for d in rows}

    wait_for(
        lambda: deliveries()[(0, far)]["attempts"] >= 1
        and deliveries()[(0, near)]["status_code"] == "01",
        "the letter refused by the network to B and delivered to A's commune",
    )
    a.post("vanthu.so", f"/api/v1/documents/{did}/recall", json={"reason": "Ban hành nhầm"})
    assert {k for k in deliveries() if k[0] == 1} == {(1, far), (1, near)}
    b.start()

    def on_b() -> dict:
        (doc,) = b.get("vanthu", "/api/v1/documents?direction=incoming")["items"]
        return dict(doc)

    wait_for(lambda: deliveries()[(1, far)]["status_code"] == "01", "the recall on node B", 90)
    assert deliveries()[(0, far)]["status_code"] == "01"
    assert on_b()["pending_change"] == 1
    b.post("vanthu", f"/api/v1/documents/{on_b()['id']}/answer", json={"accept": True})
    wait_for(lambda: deliveries()[(1, far)]["status_code"] == "15", "15 from node B")
    assert on_b()["status"] == "recalled"


def test_recall_is_accepted_on_one_node_and_refused_on_the_other(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    pki = TestPki.generate("rsa")
    far, near = "000.01.20.H98", "000.01.20.H99"
    did = send_document(a, pki, [{"code": far, "name": "Xã B"}, {"code": near, "name": "Xã A"}])
    wait_for(lambda: set(_statuses(a, did).values()) == {"01"}, "status 01 from both")
    a.post("vanthu.so", f"/api/v1/documents/{did}/recall", json={"reason": "Ban hành nhầm"})

    def pending(node: Node) -> dict:
        (doc,) = node.get("vanthu", "/api/v1/documents?direction=incoming")["items"]
        return dict(doc)

    wait_for(lambda: pending(b)["pending_change"] == 1, "the recall on node B")
    wait_for(lambda: pending(a)["pending_change"] == 1, "the recall on node A's commune")
    b.post("vanthu", f"/api/v1/documents/{pending(b)['id']}/answer", json={"accept": True})
    a.post(
        "vanthu",
        f"/api/v1/documents/{pending(a)['id']}/answer",
        json={"accept": False, "reason": "Đã triển khai"},
    )

    def answers() -> dict[str, str | None]:
        rows = a.get("vanthu.so", f"/api/v1/documents/{did}/deliveries")
        return {d["recipient_code"]: d["status_code"] for d in rows if d["business_type"] == 1}

    wait_for(lambda: answers() == {far: "15", near: "16"}, "15 from node B and 16 from node A")
    assert pending(b)["status"] == "recalled" and pending(a)["status"] == "received"
