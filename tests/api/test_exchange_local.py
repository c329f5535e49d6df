"""Exchange between agencies of one node: the same package path as between nodes, no HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine.exchange.outbox import Outbox
from engine.signature_upgrades import Upgrader
from signing.report import Indication
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from storage.models import (
    Delivery,
    Document,
    ExchangeEvidence,
    ReceivedPackage,
    SignatureUpgrade,
    utcnow,
)
from tests.api.test_documents_api import (
    COMMUNE,
    _do,
    _doc,
    _outgoing,
    _sign_and_upload,
    trusted_pki,
)
from tests.conftest import Api
from tests.pki import TestPki


def _no_http(url: str, data: bytes) -> bytes:
    raise AssertionError(f"same-node delivery must not use HTTP ({url})")


def _outbox(api: Api) -> Outbox:
    s = api.state
    return Outbox(s.sessions, s.objects, s.node, _no_http, s.settings.tmp_dir)


def _dispatched(api: Api, pki: TestPki, tsa: str | None = None) -> int:
    did = int(_outgoing(api)["id"])
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official", tsa)
    _do(api, "vanthu.so", "number", did)
    _sign_and_upload(api, "vanthu.so", did, pki, "seal", tsa)
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


def _delivered(api: Api, pki: TestPki) -> tuple[int, Outbox, dict]:
    """A dispatched document, its outbox, and the copy the receiving commune registered."""
    did = _dispatched(api, pki)
    outbox = _outbox(api)
    outbox.run_once()
    return did, outbox, _incoming_of(api, _doc(api, "vanthu.so", did)["exchange_id"])


def _send_update(api: Api, did: int) -> Any:
    return api.client.post(
        f"/api/v1/documents/{did}/update",
        json={"subject": "Trích yếu đã sửa", "reason": "Sửa trích yếu"},
        headers=api.login("vanthu.so"),
    )


def _deliveries(api: Api, did: int) -> list[dict]:
    return list(
        api.client.get(f"/api/v1/documents/{did}/deliveries", headers=api.login("vanthu.so")).json()
    )


def test_recall_reaches_the_receiver_who_accepts_it_and_the_sender_sees_15(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    h = api.login("vanthu.so")
    # Only the issuing agency's clerk recalls, and only with a reason.
    assert (
        api.client.post(
            f"/api/v1/documents/{did}/recall", json={"reason": "x"}, headers=api.login("vanthu")
        ).status_code
        == 404
    )
    assert api.client.post(f"/api/v1/documents/{did}/recall", json={}, headers=h).status_code == 422
    r = api.client.post(
        f"/api/v1/documents/{did}/recall", json={"reason": "Sai số liệu"}, headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "recalled"
    again = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "x"}, headers=h)
    assert again.status_code == 409
    outbox.run_once()
    pending = _doc(api, "vanthu", copy["id"])
    assert (pending["pending_change"], pending["pending_reason"]) == (1, "Sai số liệu")
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer",
        json={"accept": True},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200 and r.json()["status"] == "recalled"
    # Its process stopped: nothing of it waits in the clerk's inbox any more.
    items = api.client.get("/api/v1/tasks?limit=200", headers=api.login("vanthu")).json()["items"]
    assert not [t for t in items if t["business_key"] == f"VB-{copy['id']}"]
    outbox.run_once()
    recall = [d for d in _deliveries(api, did) if d["business_type"] == 1]
    assert [x["code"] for x in recall[0]["history"]] == ["01", "15"]
    again = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer", json={"accept": True}, headers=api.login("vanthu")
    )
    assert again.status_code == 409 and again.json()["error"] == "no_pending_change"


def test_update_refused_leaves_the_copy_as_it_was_and_replacement_accepted_closes_it(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    r = _send_update(api, did)
    assert r.status_code == 200 and r.json()["subject"] == "Trích yếu đã sửa"
    outbox.run_once()
    assert _doc(api, "vanthu", copy["id"])["pending_change"] == 2
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer",
        json={"accept": False, "reason": "Đã xử lý xong"},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200 and r.json()["subject"] == copy["subject"]
    outbox.run_once()
    update = [d for d in _deliveries(api, did) if d["business_type"] == 2]
    assert update[0]["status_code"] == "16"

    # A replacement is a new document naming the old one.
    new = _outgoing(api, replaces=did, subject="Văn bản thay thế")
    _do(api, "chuyenvien.so", "draft", new["id"])
    _do(api, "lanhdao.so", "review", new["id"], {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", new["id"], {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", new["id"], pki, "official")
    _do(api, "vanthu.so", "number", new["id"])
    _sign_and_upload(api, "vanthu.so", new["id"], pki, "seal")
    outbox.run_once()
    replacement = _incoming_of(api, _doc(api, "vanthu.so", new["id"])["exchange_id"])
    assert replacement["replaces"] == copy["id"] and replacement["pending_change"] == 3
    r = api.client.post(
        f"/api/v1/documents/{replacement['id']}/answer",
        json={"accept": True},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200
    assert _doc(api, "vanthu", copy["id"])["status"] == "recalled"
    assert _doc(api, "vanthu", replacement["id"])["status"] == "received"
    outbox.run_once()
    (delivery,) = _deliveries(api, new["id"])
    assert delivery["business_type"] == 3 and [x["code"] for x in delivery["history"]] == [
        "01",
        "15",
    ]
    # The replacement can itself be recalled: the recall goes where the replacement went.
    r = api.client.post(
        f"/api/v1/documents/{new['id']}/recall",
        json={"reason": "Thay thế nhầm"},
        headers=api.login("vanthu.so"),
    )
    assert r.status_code == 200, r.text
    outbox.run_once()
    assert _doc(api, "vanthu", replacement["id"])["pending_change"] == 1


def test_an_update_still_unanswered_when_a_recall_follows_is_answered_16_and_each_gets_its_own(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    h = api.login("vanthu.so")
    r = _send_update(api, did)
    assert r.status_code == 200, r.text
    outbox.run_once()
    assert _doc(api, "vanthu", copy["id"])["pending_change"] == 2
    r = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "Hủy"}, headers=h)
    assert r.status_code == 200, r.text
    outbox.run_once()
    # The recall is what waits now; the update it made moot went back refused, with why.
    pending = _doc(api, "vanthu", copy["id"])
    assert (pending["pending_change"], pending["pending_reason"]) == (1, "Hủy")
    assert "change_superseded" in [e["kind"] for e in pending["timeline"]]
    update = [d for d in _deliveries(api, did) if d["business_type"] == 2]
    assert [x["code"] for x in update[0]["history"]] == ["01", "16"]
    assert "superseded" in update[0]["history"][-1]["description"]
    recall = [d for d in _deliveries(api, did) if d["business_type"] == 1]
    assert [x["code"] for x in recall[0]["history"]] == ["01"]
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer", json={"accept": True}, headers=api.login("vanthu")
    )
    assert r.status_code == 200 and r.json()["status"] == "recalled"
    outbox.run_once()
    by_type = {d["business_type"]: [x["code"] for x in d["history"]] for d in _deliveries(api, did)}
    assert by_type[1] == ["01", "15"] and by_type[2] == ["01", "16"]


def test_a_recall_waits_for_an_update_still_queued_before_it_so_answers_match(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    h = api.login("vanthu.so")
    r = _send_update(api, did)
    assert r.status_code == 200, r.text
    # The update's send failed and backs off for an hour (as after a peer's outage).
    with api.state.sessions.begin() as s:
        update = s.scalars(
            select(Delivery).where(Delivery.document_id == did, Delivery.business_type == 2)
        ).one()
        update.next_attempt_at = utcnow() + timedelta(hours=1)
    r = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "Hủy"}, headers=h)
    assert r.status_code == 200, r.text
    outbox.run_once()
    # The recall did not overtake it: nothing reached the receiver yet.
    assert _doc(api, "vanthu", copy["id"])["pending_change"] is None
    states = {d["business_type"]: d["state"] for d in _deliveries(api, did)}
    assert states[1] == states[2] == "pending"
    with api.state.sessions.begin() as s:
        s.scalars(
            select(Delivery).where(Delivery.document_id == did, Delivery.business_type == 2)
        ).one().next_attempt_at = utcnow()
    for _ in range(3):
        outbox.run_once()
    with api.state.sessions.begin() as s:  # the recall waits a second behind the update
        for d in s.scalars(select(Delivery).where(Delivery.document_id == did)):
            d.next_attempt_at = min(d.next_attempt_at or utcnow(), utcnow())
    outbox.run_once()
    assert _doc(api, "vanthu", copy["id"])["pending_change"] == 1
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer",
        json={"accept": False},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200, r.text
    outbox.run_once()
    by_type = {d["business_type"]: [x["code"] for x in d["history"]] for d in _deliveries(api, did)}
    assert by_type[2] == ["01", "16"] and by_type[1] == ["01", "16"]
    update_answer = [d for d in _deliveries(api, did) if d["business_type"] == 2][0]
    assert "superseded" in update_answer["history"][-1]["description"]


def test_evidence_log_lists_every_package_and_status_with_its_hash(api: Api, pki: TestPki) -> None:
    did = _dispatched(api, pki)
    _outbox(api).run_once()
    exchange_id = _doc(api, "vanthu.so", did)["exchange_id"]
    r = api.client.get(
        "/api/v1/exchange/evidence",
        params={"exchange_id": exchange_id},
        headers=api.login("vanthu.so"),
    )
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    seen = {(e["direction"], e["kind"], e["result"]) for e in rows}
    assert ("sent", "package", "delivered") in seen
    assert ("received", "package", "accepted") in seen
    assert ("sent", "status", "answered") in seen and ("received", "status", "recorded") in seen
    assert all(len(e["sha256"]) == 64 and e["size"] > 0 for e in rows)
    denied = api.client.get("/api/v1/exchange/evidence", headers=api.login("chuyenvien"))
    assert denied.status_code == 403
    # A clerk sees what concerns the clerk's own agency; an admin sees the node's whole log.
    made = api.client.post(
        "/api/v1/users",
        json={
            "username": "vanthu.xa2",
            "full_name": "Văn thư xã 2",
            "agency_code": "000.02.20.H99",
            "roles": ["clerk"],
            "password": "mat-khau-dai",
        },
        headers=api.login("admin"),
    )
    assert made.status_code == 201, made.text
    # The statuses the receiving agency sends back later (03 registered) are its clerk's too.
    copy = _incoming_of(api, exchange_id)
    _do(api, "vanthu", "register", copy["id"], {"decision": "register"})
    _outbox(api).run_once()
    mine = api.client.get(
        "/api/v1/exchange/evidence",
        params={"exchange_id": exchange_id},
        headers=api.login("vanthu"),
    ).json()["items"]
    assert ("sent", "status", "03") in {(e["direction"], e["kind"], e["status_code"]) for e in mine}
    rows = mine
    for user, expected in (("vanthu.xa2", 0), ("vanthu", len(rows)), ("admin", len(rows))):
        seen_by = api.client.get(
            "/api/v1/exchange/evidence",
            params={"exchange_id": exchange_id},
            headers=api.login(user, "demo" if user != "vanthu.xa2" else "mat-khau-dai"),
        ).json()
        assert seen_by["total"] == expected, (user, seen_by)


def test_the_same_package_delivered_four_times_at_once_is_one_document(
    api: Api, pki: TestPki
) -> None:
    import threading

    from engine.exchange.edxml import build_document
    from engine.exchange.packages import document_package
    from engine.exchange.receiving import Receipt, receive_logged
    from signing.xmldsig import sign_package

    did = _dispatched(api, pki)
    s = api.state
    with s.sessions.begin() as session:
        doc = session.get(Document, did)
        assert doc is not None
        pkg = document_package(session, s.objects, doc, [(COMMUNE, "UBND xã Hoà Bình")])
        exchange_id = doc.exchange_id
    data = sign_package(build_document(pkg), s.node.key)
    answers: list[list[Receipt]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        try:
            answers.append(
                receive_logged(s.sessions, s.objects, s.node, data, tmp_dir=s.settings.tmp_dir)
            )
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.status_code for a in answers for r in a) == ["01"] * 4
    with s.sessions.begin() as session:
        copies = session.scalar(
            select(func.count(Document.id)).where(
                Document.exchange_id == exchange_id, Document.direction == "incoming"
            )
        )
        assert copies == 1


def test_a_b_t_signed_document_received_is_raised_to_b_lta_at_the_receiver(api: Api) -> None:
    with trusted_pki(api) as (pki, tsa):
        did = _dispatched(api, pki, tsa)
        assert _outbox(api).run_once() == 1
        incoming = _incoming_of(api, _doc(api, "vanthu.so", did)["exchange_id"])
        (main,) = [f for f in _doc(api, "vanthu", incoming["id"])["files"] if f["role"] == "main"]
        with api.state.sessions.begin() as s:
            assert main["id"] in s.scalars(select(SignatureUpgrade.file_id)).all()
        state = api.state
        Upgrader(
            state.sessions, state.objects, tsa, timedelta(0), state.settings.tmp_dir
        ).run_once()
    (after,) = [f for f in _doc(api, "vanthu", incoming["id"])["files"] if f["role"] == "main"]
    assert after["id"] != main["id"]
    pdf = api.client.get(f"/api/v1/files/{after['id']}", headers=api.login("vanthu")).content
    signatures = validate_pdf(pdf, TrustSettings.of([pki.root.cert])).signatures
    assert [s.pades_level for s in signatures] == ["B-LTA", "B-LTA"]
    assert all(s.indication is Indication.TOTAL_PASSED for s in signatures)
