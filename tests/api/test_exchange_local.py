"""Exchange between agencies of one node: the same package path as between nodes, no HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.exchange.outbox import Outbox
from storage.models import Document, ExchangeEvidence, ReceivedPackage
from tests.api.test_documents_api import COMMUNE, _do, _doc, _outgoing, _sign_and_upload
from tests.conftest import Api
from tests.pki import TestPki


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.generate("rsa")


def _no_http(url: str, data: bytes) -> bytes:
    raise AssertionError(f"same-node delivery must not use HTTP ({url})")


def _outbox(api: Api) -> Outbox:
    s = api.state
    return Outbox(s.sessions, s.objects, s.node, _no_http, s.settings.tmp_dir)


def _dispatched(api: Api, pki: TestPki) -> int:
    did = int(_outgoing(api)["id"])
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    _do(api, "vanthu.so", "number", did)
    _sign_and_upload(api, "vanthu.so", did, pki, "seal")
    assert _doc(api, "vanthu.so", did)["status"] == "dispatched"
    return did


def _incoming_of(api: Api, exchange_id: str) -> dict:
    h = api.login("vanthu")
    items = api.client.get("/api/v1/documents?direction=incoming", headers=h).json()["items"]
    mine = [d for d in items if d["exchange_id"] == exchange_id]
    assert len(mine) == 1, items
    return dict(mine[0])


def test_document_sent_to_an_agency_of_the_same_node_arrives_and_statuses_flow_back(
    api: Api, pki: TestPki
) -> None:
    did = _dispatched(api, pki)
    outbox = _outbox(api)
    assert outbox.run_once() == 1
    sent = _doc(api, "vanthu.so", did)
    (delivery,) = api.client.get(
        f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so")
    ).json()
    assert (delivery["recipient_code"], delivery["state"], delivery["status_code"]) == (
        COMMUNE,
        "sent",
        "01",
    )
    incoming = _incoming_of(api, sent["exchange_id"])
    assert incoming["status"] == "received" and incoming["code"] == "01/STP-VP"
    assert incoming["issuer_code"] == "000.00.10.H99" and incoming["arrival_number"] == ""
    detail = _doc(api, "vanthu", incoming["id"])
    (main,) = [f for f in detail["files"] if f["role"] == "main"]
    signed = api.client.get(f"/api/v1/files/{main['id']}", headers=api.login("vanthu"))
    assert signed.status_code == 200 and signed.content.count(b"/ByteRange") == 2

    # The clerk registers it: status 03 goes back; the leader directs: 04.
    _do(api, "vanthu", "register", incoming["id"], {"decision": "register"})
    _do(api, "lanhdao", "direct", incoming["id"], {"opinion": "Giao văn phòng xử lý"})
    assert outbox.run_once() == 2
    (delivery,) = api.client.get(
        f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so")
    ).json()
    assert [h["code"] for h in delivery["history"]] == ["01", "03", "04"]
    assert delivery["status_code"] == "04" and delivery["status_name"].startswith("Đã đến")

    # Sending the same package again creates nothing new.
    with api.state.sessions.begin() as s:
        from storage.models import Delivery

        d = s.scalar(select(Delivery).where(Delivery.document_id == did))
        assert d is not None
        d.state, d.next_attempt_at = "pending", d.created_at
    assert outbox.run_once() == 1
    with api.state.sessions.begin() as s:
        n = s.scalar(
            select(func.count(Document.id)).where(Document.exchange_id == sent["exchange_id"])
        )
        assert n == 2  # the outgoing original and one incoming copy
        assert s.scalar(select(func.count(ReceivedPackage.id))) == 1
        results = s.scalars(
            select(ExchangeEvidence.result).where(ExchangeEvidence.kind == "package")
        ).all()
        assert sorted(results).count("duplicate") == 1


def test_refusing_an_arrival_sends_status_02_with_the_reason(api: Api, pki: TestPki) -> None:
    did = _dispatched(api, pki)
    outbox = _outbox(api)
    outbox.run_once()
    incoming = _incoming_of(api, _doc(api, "vanthu.so", did)["exchange_id"])
    _do(api, "vanthu", "register", incoming["id"], {"decision": "refuse", "reason": "Gửi nhầm"})
    outbox.run_once()
    (delivery,) = api.client.get(
        f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so")
    ).json()
    assert delivery["status_code"] == "02"
    assert delivery["history"][-1]["description"] == "Gửi nhầm"
