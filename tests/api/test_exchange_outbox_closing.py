"""What the outbox may close, and when: never an entry another worker has sent meanwhile,
never a 15/16 answer (the sender files each under its oldest change still unanswered), and
never a package the receiver took just because its answer could not be read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.exchange.transport import PeerAnswered
from storage.models import Delivery, StatusOutbox, utcnow
from tests.api.test_exchange_local import _delivered, _doc, _send_update
from tests.api.test_exchange_local import _deliveries as _local_deliveries
from tests.api.test_exchange_refusals import (
    B_COMMUNE,
    TO_B,
    _Answering,
    _deliveries,
    _dispatched,
    _outbox,
    _peer,
)
from tests.conftest import Api
from tests.pki import TestPki

_REFUSED = PeerAnswered("http://peer", 422, b'{"error": "unknown_sender", "detail": "who?"}')


def test_a_late_failure_never_closes_a_delivery_another_worker_has_sent(
    api: Api, pki: TestPki
) -> None:
    # A worker whose lease ran out mid-send records its failure after another worker, which
    # claimed the entry again, has delivered it.
    did, outbox, _ = _delivered(api, pki)
    with api.state.sessions.begin() as s:
        (delivery,) = s.scalars(select(Delivery).where(Delivery.document_id == did)).all()
        assert delivery.state == "sent"
    assert outbox._fail(Delivery, [delivery.id], _REFUSED)
    with api.state.sessions.begin() as s:
        row = s.get(Delivery, delivery.id)
        assert row is not None and (row.state, row.status_code) == ("sent", "01")


def test_a_15_or_16_is_never_given_up_on_or_closed_but_other_statuses_are(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    assert _send_update(api, did).status_code == 200
    outbox.run_once()
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer",
        json={"accept": False, "reason": "Không đồng ý"},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200, r.text
    with api.state.sessions.begin() as s:
        answer = s.scalars(select(StatusOutbox).where(StatusOutbox.status_code == "16")).one()
        answer.failing_since = utcnow() - timedelta(days=30)  # failing for a month
        answer_id = answer.id
    outbox.give_up = timedelta(hours=1)
    for error in (OSError("the sender's node is down"), _REFUSED):
        assert outbox._fail(StatusOutbox, [answer_id], error) is False  # holds the queue
        with api.state.sessions.begin() as s:
            row = s.get(StatusOutbox, answer_id)
            assert row is not None and row.state == "pending" and row.next_attempt_at
    with api.state.sessions.begin() as s:  # the same failures close any other status
        row = s.get(StatusOutbox, answer_id)
        assert row is not None
        row.status_code = "05"
    assert outbox._fail(StatusOutbox, [answer_id], OSError("down")) is True
    with api.state.sessions.begin() as s:
        row = s.get(StatusOutbox, answer_id)
        assert row is not None and row.state == "failed"


@pytest.fixture
def unreadable() -> Iterator[str]:
    """A peer that takes the package (200) but answers with a receipt we cannot read."""
    server = _Answering()
    server.status = 200
    server.body = (
        b'{"receipts": [{"organ_id": "000.01.20.H98", "status_package": "<edXML>not a status"}]}'
    )
    yield server.url
    server.shutdown()
    server.server_close()


def test_a_peer_that_took_the_package_but_answered_unreadably_is_asked_again(
    api: Api, pki: TestPki, unreadable: str
) -> None:
    _peer(api, unreadable, api.state.node.certificate_pem, [B_COMMUNE])
    did = _dispatched(api, pki, TO_B)
    _outbox(api).run_once()
    d = _deliveries(api, did)[(0, B_COMMUNE)]
    # Not "refused": the receiver holds the letter; the answer is asked for again.
    assert d["state"] == "pending", d
    assert d["attempts"] == 1 and "xml" in d["last_error"].lower()


def test_an_update_is_not_resent_after_a_recall_reached_the_receiver(
    api: Api, pki: TestPki
) -> None:
    did, outbox, copy = _delivered(api, pki)
    h = api.login("vanthu.so")
    assert _send_update(api, did).status_code == 200
    with api.state.sessions.begin() as s:  # the update refused by the receiver's node
        s.execute(
            update(Delivery)
            .where(Delivery.document_id == did, Delivery.business_type == 2)
            .values(state="refused", last_error="refused")
        )
    r = api.client.post(f"/api/v1/documents/{did}/recall", json={"reason": "Hủy"}, headers=h)
    assert r.status_code == 200, r.text
    outbox.run_once()
    r = api.client.post(
        f"/api/v1/documents/{copy['id']}/answer", json={"accept": True}, headers=api.login("vanthu")
    )
    assert r.status_code == 200 and r.json()["status"] == "recalled", r.text
    outbox.run_once()
    update_row = next(d for d in _local_deliveries(api, did) if d["business_type"] == 2)
    r = api.client.post(f"/api/v1/documents/{did}/deliveries/{update_row['id']}/resend", headers=h)
    # Sent now it would reach a copy already recalled, after the recall.
    assert r.status_code == 409, r.text
    assert r.json()["error"] in ("document_recalled", "later_change_pending")
    outbox.run_once()
    assert _doc(api, "vanthu", copy["id"])["status"] == "recalled"
    assert _doc(api, "vanthu", copy["id"])["pending_change"] is None
