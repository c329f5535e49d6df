"""Secret outgoing documents have their own number series (Decree 30/2020 art. 15): the clerk
numbers them from 01 beside the normal series, and number + notation stay unique per
agency, year and series."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.exchange.outbox import Outbox
from storage.models import Delivery, Document, RegisterCounter
from tests.api.test_documents_api import (
    COMMUNE,
    _do,
    _doc,
    _outgoing,
    _sign_and_upload,
    _task,
)
from tests.conftest import Api
from tests.pki import TestPki


def _to_numbering(api: Api, pki: TestPki, **over: object) -> int:
    """An outgoing document drafted, reviewed, approved and signed: its number step waits."""
    did = int(_outgoing(api, **over)["id"])
    _do(api, "chuyenvien.so", "draft", did)
    _do(api, "lanhdao.so", "review", did, {"decision": "approve"})
    _do(api, "lanhdao.so", "approve", did, {"decision": "approve"})
    _sign_and_upload(api, "lanhdao.so", did, pki, "official")
    return did


def _number(api: Api, did: int, data: dict | None = None) -> tuple[int, dict]:
    r = api.client.post(
        f"/api/v1/tasks/{_task(api, 'vanthu.so', 'number', did)}/complete",
        json={"data": data or {}},
        headers=api.login("vanthu.so"),
    )
    return r.status_code, r.json()


def _register(api: Api, secret: bool) -> list[list[str]]:
    r = api.client.get(
        "/api/v1/documents/registers/outgoing",
        params={"year": _doc(api, "vanthu.so", _any_numbered(api))["year"], "secret": secret},
        headers=api.login("vanthu.so"),
    )
    assert r.status_code == 200, r.text
    return [line.split(",") for line in r.text.strip().splitlines()[1:]]


def _any_numbered(api: Api) -> int:
    with api.state.sessions.begin() as s:
        return int(s.scalar(select(Document.id).where(Document.number.is_not(None)).limit(1)))


def test_secret_and_normal_series_both_start_at_01_with_the_same_notation(
    api: Api, pki: TestPki
) -> None:
    normal = _to_numbering(api, pki)
    assert _number(api, normal)[0] == 200
    secret = _to_numbering(api, pki, secrecy=1)
    status, body = _number(api, secret)
    assert status == 200, body
    shown = _doc(api, "vanthu.so", secret)
    assert (shown["code"], shown["status"]) == ("01/STP-VP", "sealing")
    assert _doc(api, "vanthu.so", normal)["code"] == "01/STP-VP"
    # Each series goes on from its own last number.
    second_secret, second_normal = (
        _to_numbering(api, pki, secrecy=1),
        _to_numbering(api, pki),
    )
    assert _number(api, second_secret)[0] == 200
    assert _number(api, second_normal)[0] == 200
    assert _doc(api, "vanthu.so", second_secret)["code"] == "02/STP-VP"
    assert _doc(api, "vanthu.so", second_normal)["code"] == "02/STP-VP"
    assert [row[:2] for row in _register(api, secret=False)] == [["01", "STP-VP"], ["02", "STP-VP"]]
    assert [row[:2] for row in _register(api, secret=True)] == [["01", "STP-VP"], ["02", "STP-VP"]]


def test_number_and_notation_are_still_unique_within_one_series(api: Api, pki: TestPki) -> None:
    first = _to_numbering(api, pki, secrecy=1)
    assert _number(api, first)[0] == 200
    # A counter set back (a restore, a hand edit) hands out 01 again: refused, nothing kept.
    with api.state.sessions.begin() as s:
        s.execute(
            update(RegisterCounter)
            .where(RegisterCounter.register == "outgoing_secret")
            .values(last=0)
        )
    again = _to_numbering(api, pki, secrecy=1)
    status, body = _number(api, again)
    assert status == 409 and body["error"] == "number_taken", body
    assert "01/STP-VP" in body["detail"] and " / " in body["detail"]
    assert _doc(api, "vanthu.so", again)["code"] in ("", None)
    # Another notation is free in the same series: the clerk changes it at the number step.
    with api.state.sessions.begin() as s:
        s.execute(
            update(RegisterCounter)
            .where(RegisterCounter.register == "outgoing_secret")
            .values(last=1)
        )
    assert _number(api, again, {"notation": "STP-M"})[0] == 200
    assert _doc(api, "vanthu.so", again)["code"] == "02/STP-M"


def test_the_database_refuses_a_second_number_and_notation_in_one_series(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    from engine.auth import principal_for
    from engine.documents.drafting import DocumentInput, create_document
    from engine.documents.numbering import assign_number
    from storage.models import User

    def numbered(s: Session, secrecy: int) -> Document:
        clerk = principal_for(s, s.scalar(select(User.id).where(User.username == "vanthu")))
        doc = create_document(
            s,
            clerk,
            DocumentInput(
                direction="outgoing",
                type_name="Quyết định",
                subject="Về việc thử",
                notation="QĐ-UBND",
                secrecy=secrecy,
            ),
        )
        assign_number(s, doc)
        return doc

    with sessions.begin() as s:
        normal, secret = numbered(s, 0), numbered(s, 1)
        assert normal.own_code == secret.own_code == "01/QĐ-UBND"
        assert (normal.register, secret.register) == ("outgoing", "outgoing_secret")
        year = normal.year
    # Past the engine's check (a direct write): the database itself keeps one per series.
    with pytest.raises(IntegrityError), sessions.begin() as s:
        third = numbered(s, 0)
        third.own_code = None
        s.flush()
        s.execute(
            update(Document).where(Document.id == third.id).values(own_code="01/QĐ-UBND", year=year)
        )


def test_a_status_about_the_normal_letter_never_lands_on_the_secret_one_of_the_same_number(
    api: Api, pki: TestPki
) -> None:
    # Both are "01/STP-VP" of today: the same edXML DocumentId. The secret one goes on paper
    # (undeliverable); what the commune answers is about the letter that went electronically.
    normal = _to_numbering(api, pki)
    assert _number(api, normal)[0] == 200
    _sign_and_upload(api, "vanthu.so", normal, pki, "seal")
    secret = _to_numbering(api, pki, secrecy=1)
    assert _number(api, secret)[0] == 200
    _sign_and_upload(api, "vanthu.so", secret, pki, "seal")
    assert (
        _doc(api, "vanthu.so", normal)["exchange_id"]
        == _doc(api, "vanthu.so", secret)["exchange_id"]
    )
    s = api.state
    outbox = Outbox(s.sessions, s.objects, s.node, _no_http, s.settings.tmp_dir)
    outbox.run_once()
    h = api.login("vanthu")
    items = api.client.get("/api/v1/documents?direction=incoming", headers=h).json()["items"]
    (incoming,) = [d for d in items if d["subject"].startswith("Về việc hướng dẫn")]
    _do(api, "vanthu", "register", incoming["id"], {"decision": "register"})
    outbox.run_once()
    with s.sessions.begin() as session:
        codes = dict(
            session.execute(
                select(Delivery.document_id, Delivery.status_code).where(
                    Delivery.recipient_code == COMMUNE
                )
            ).all()
        )
    assert codes == {normal: "03", secret: None}


def _no_http(url: str, data: bytes) -> bytes:
    raise AssertionError(f"same-node delivery must not use HTTP ({url})")
