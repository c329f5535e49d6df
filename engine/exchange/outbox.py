"""The outbox: the worker delivers queued packages and statuses, retrying with back-off.

A batch is claimed in a short transaction (its next attempt pushed past a lease), sent
outside any transaction, and the answer recorded in another; a crash in between leaves
the lease to expire and the package is sent again — the receiver de-duplicates. The
lease is renewed just before each send, so it only has to outlast one send. Packages
go out in parallel (a province writing to a hundred communes waits for the slowest
node, not for the sum of them), except that those of one document to one node go in
order and stop at the first failure, so that a recall never overtakes its letter.
Agencies on this node are delivered through the same receiving code, without HTTP.

A receiver that refuses a package for good (engine.exchange.transport) closes the entry
as `refused`; one failing for longer than `give_up` is closed as `failed`. Either stays
shown in the document's deliveries and timeline until a clerk sends it again
(engine.documents.deliveries.resend_delivery).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.documents.deliveries import latest_status
from engine.documents.timeline import record_event
from engine.errors import ExchangeError
from engine.exchange.agency_keys import AgencyKeys, fingerprint, sign_as
from engine.exchange.edxml import build_document, parse_status
from engine.exchange.evidence import evidence
from engine.exchange.identity import NodeIdentity
from engine.exchange.packages import document_package, status_package
from engine.exchange.peers import agency_pins, peer_certificate
from engine.exchange.receiving import Receipt, receive_logged, signed_status
from engine.exchange.signers import Signer, signer_of
from engine.exchange.transport import LocalRefusal, Send, refusal
from signing.xmldsig import verify_package
from storage.db import any_row, reading
from storage.models import (
    Agency,
    Delivery,
    DeliveryStatus,
    Document,
    ExchangePeer,
    PeerAgency,
    StatusOutbox,
    utcnow,
)
from storage.objects import ObjectStore

__all__ = ["GIVE_UP", "Send", "Outbox", "backoff"]

log = logging.getLogger("lienthong.exchange")

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=1)
# Past three days of failed attempts a node is not coming back by itself: someone must look.
GIVE_UP = timedelta(days=3)

# A peer node: name, URL, its certificate, and the certificates pinned for its agencies.
_Peer = tuple[str, str, x509.Certificate, dict[str, x509.Certificate]]


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 2, 4, 8 … seconds, at most an hour."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


@dataclass
class Outbox:
    """Delivers for one node: its database, object store, identity and HTTP transport."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    node: NodeIdentity
    send: Send
    tmp_dir: Path
    batch: int = 20
    lease: timedelta = LEASE  # longer than a send may take, or a slow send is sent twice
    parallel: int = 4
    keys: AgencyKeys | None = None  # opens agencies' own keys; without it the node key signs
    give_up: timedelta = GIVE_UP  # a run of failed attempts this long closes the entry

    def run_once(self) -> int:
        """Deliver what is due; returns how many deliveries and statuses were attempted."""
        return self._documents() + self._statuses()

    # --- claiming -------------------------------------------------------------------
    def _claim(self, model: Any) -> list[int]:
        now = utcnow()
        due = (model.state == "pending", model.next_attempt_at <= now)
        if not any_row(self.sessions, select(model.id).where(*due)):
            return []
        with self.sessions.begin() as session:
            query = (
                select(model)
                .where(*due)
                .order_by(model.next_attempt_at, model.id)
                .limit(self.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            for row in rows:
                row.next_attempt_at = now + self.lease
                row.attempts += 1
            return [r.id for r in rows]

    def _route(self, session: Session, code: str) -> ExchangePeer | None | str:
        if session.scalar(select(Agency.id).where(Agency.code == code)):
            return None
        peer = session.scalar(
            select(ExchangePeer)
            .join(PeerAgency, PeerAgency.peer_id == ExchangePeer.id)
            .where(PeerAgency.code == code)
        )
        return peer if peer is not None else f"no node serves {code}"

    def _renew(self, model: Any, ids: list[int]) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(model)
                .where(model.id.in_(ids), model.state == "pending")
                .values(next_attempt_at=utcnow() + self.lease)
            )

    def _fail(self, model: Any, ids: list[int], error: BaseException) -> bool:
        """Record a failed attempt: a refusal for good closes the entries (refused), as does
        a run of failures longer than `give_up` (failed); others are due after back-off.
        Returns True when every entry is closed (what queues behind them may go on)."""
        refused, now, closed = refusal(error), utcnow(), True
        with self.sessions.begin() as session:
            # Pending only: another worker whose lease came first may have sent it meanwhile.
            pending = select(model).where(model.id.in_(ids), model.state == "pending")
            for row in session.scalars(pending):
                row.failing_since = row.failing_since or now
                if _must_arrive(row) or (
                    refused is None and now - row.failing_since < self.give_up
                ):
                    row.last_error = _reason(error)[:2000]
                    row.next_attempt_at = now + backoff(row.attempts)
                    closed = False
                    continue
                row.state = "refused" if refused else "failed"
                row.last_error = refused or _gave_up(row.failing_since, _reason(error))
                row.next_attempt_at = None
                _closed_event(session, row)
                log.warning(
                    "outbox: %s %s %s: %s", model.__tablename__, row.id, row.state, row.last_error
                )
        return closed

    def _put_off(self, model: Any, ids: list[int]) -> None:
        """Entries behind one that failed wait for it: due again after back-off, no failure
        of their own counted."""
        with self.sessions.begin() as session:
            pending = select(model).where(model.id.in_(ids), model.state == "pending")
            for row in session.scalars(pending):
                row.last_error = _WAITING
                row.next_attempt_at = utcnow() + backoff(row.attempts)

    # --- document packages ----------------------------------------------------------
    def _documents(self) -> int:
        ids = self._claim(Delivery)
        if not ids:  # the idle case, several times a second: no transaction at all
            return 0
        groups: dict[tuple[int, int, int | None], list[int]] = {}
        peers: dict[int, _Peer] = {}
        with self.sessions.begin() as session:
            for d in session.scalars(
                select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)
            ):
                route = self._route(session, d.recipient_code)
                if isinstance(route, str):
                    d.last_error, d.state = route, "undeliverable"
                    continue
                if route is not None:
                    peers[route.id] = (
                        route.name,
                        route.url,
                        peer_certificate(route),
                        agency_pins(session, route.id),
                    )
                groups.setdefault(
                    (d.document_id, d.business_type, route.id if route else None), []
                ).append(d.id)

        def deliver(group: tuple[tuple[int, int, int | None], list[int]]) -> bool:
            (doc_id, business, peer_id), members = group
            try:
                members, _ = self._after_original(doc_id, business, members)
                if not members:
                    # Waiting (or closed) is not a failure: a change queued behind this one
                    # waits for the same letter in its own turn, keeping its own due time.
                    return True
                self._renew(Delivery, members)
                self._deliver(doc_id, business, members, peers.get(peer_id) if peer_id else None)
            except Exception as e:  # noqa: BLE001 - any failure is recorded on the entry
                # A closed letter lets the changes behind it on: `_after_original` closes them.
                return self._fail(Delivery, members, e)
            return True

        def put_off(group: tuple[tuple[int, int, int | None], list[int]]) -> None:
            self._put_off(Delivery, group[1])

        queues: dict[Hashable, list[tuple[tuple[int, int, int | None], list[int]]]] = {}
        for group in groups.items():
            queues.setdefault((group[0][0], group[0][2]), []).append(group)  # document, node
        self._in_order(queues, deliver, put_off)
        return len(ids)

    def _in_order(
        self,
        queues: dict[Hashable, list[Any]],
        run: Callable[[Any], bool],
        put_off: Callable[[Any], None],
    ) -> None:
        """Run each queue's items one after another, up to `parallel` queues at once; after an
        item fails, the rest of its queue is put off (retried after it)."""

        def run_queue(queue: list[Any]) -> None:
            for n, item in enumerate(queue):
                if not run(item):
                    for later in queue[n + 1 :]:
                        put_off(later)
                    return

        pending = list(queues.values())
        if len(pending) <= 1 or self.parallel <= 1:
            for queue in pending:
                run_queue(queue)
            return
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    queue = pending.pop(0)
                try:
                    run_queue(queue)
                except Exception:  # a failure to record a failure: the lease brings it back
                    log.exception("outbox: a delivery could not be recorded")

        # Daemon threads: stopping the server never waits for a slow peer (the lease
        # brings back whatever was cut off).
        threads = [
            threading.Thread(target=worker, name="lienthong-outbox", daemon=True)
            for _ in range(min(self.parallel, len(pending)))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _after_original(
        self, doc_id: int, business: int, members: list[int]
    ) -> tuple[list[int], list[int]]:
        """A recall or an update goes to a recipient only once the document itself (or the
        replacement it is) and any earlier recall or update to it have been sent: returns the
        entries to send now and those that wait, due again just after the next attempt of
        what they wait for (no attempt counted, so changes keep their order). One whose
        letter was refused or undeliverable is closed."""
        if business not in (1, 2):
            return members, []
        go, waiting = [], []
        with self.sessions.begin() as session:
            originals = {
                d.recipient_code: d
                for d in session.scalars(
                    select(Delivery).where(
                        Delivery.document_id == doc_id, Delivery.business_type.in_((0, 3))
                    )
                )
            }
            # An earlier recall or update to the same agency goes first too: the receiver
            # answers them in arrival order and the sender files each 15/16 under its
            # oldest unanswered one (engine.exchange.delivery_statuses).
            earlier_changes = session.execute(
                select(Delivery.recipient_code, Delivery.id, Delivery.next_attempt_at).where(
                    Delivery.document_id == doc_id,
                    Delivery.business_type.in_((1, 2)),
                    Delivery.state == "pending",
                    Delivery.id.not_in(members),
                )
            ).all()
            for d in session.scalars(select(Delivery).where(Delivery.id.in_(members))):
                original = originals.get(d.recipient_code)
                before = [
                    at
                    for code, other, at in earlier_changes
                    if code == d.recipient_code and other < d.id
                ]
                if before:
                    after = max(max(a or utcnow() for a in before), utcnow())
                    d.next_attempt_at = after + timedelta(seconds=1)
                    d.attempts, d.last_error = max(d.attempts - 1, 0), _WAITING
                    waiting.append(d.id)
                elif original is not None and original.state == "pending":
                    after = max(original.next_attempt_at or utcnow(), utcnow())
                    d.next_attempt_at = after + timedelta(seconds=1)
                    d.attempts, d.last_error = max(d.attempts - 1, 0), _WAITING
                    waiting.append(d.id)
                elif original is None or original.state != "sent" or original.status_code == "02":
                    d.state, d.last_error = "undeliverable", _NO_ORIGINAL
                else:
                    go.append(d.id)
        return go, waiting

    def _package(self, doc_id: int, business: int, members: list[int]) -> tuple[bytes, str]:
        with reading(self.sessions) as session:
            doc = session.get(Document, doc_id)
            assert doc is not None
            rows = session.scalars(select(Delivery).where(Delivery.id.in_(members))).all()
            reason = rows[0].reason if rows else None
            pkg = document_package(
                session,
                self.store,
                doc,
                [(r.recipient_code, r.recipient_name) for r in rows],
                business_type=business,
                reason=reason,
            )
            xml = sign_as(session, self.keys, self.node, doc.agency_id, build_document(pkg))
            return xml, str(doc.exchange_id)

    def _deliver(
        self,
        doc_id: int,
        business: int,
        members: list[int],
        peer: _Peer | None,
    ) -> None:
        data, exchange_id = self._package(doc_id, business, members)
        if peer is None:
            receipts = self._receive_here(data)
            statuses = [
                (r, xml, signer_of(xml, self.node) if r.status_package else None)
                for r in receipts
                for xml in [(r.status_package or r.description).encode()]
            ]
        else:
            answer = self.send(f"{peer[1]}/exchange/v1/packages", data)
            statuses = self._verified(answer, peer[2], peer[3], exchange_id)
        self._record(members, data, exchange_id, peer[0] if peer else self.node.name, statuses)

    def _receive_here(self, data: bytes) -> list[Receipt]:
        """Hand a package to an agency of this node, as a peer's endpoint would take it."""
        try:
            return receive_logged(
                self.sessions, self.store, self.node, data, tmp_dir=self.tmp_dir, keys=self.keys
            )
        except ExchangeError as e:
            raise LocalRefusal(e) from e

    def _verified(
        self,
        answer: bytes,
        cert: x509.Certificate,
        pins: dict[str, x509.Certificate],
        exchange_id: str,
    ) -> list[tuple[Receipt, bytes, Signer | None]]:
        body = json.loads(answer)
        out: list[tuple[Receipt, bytes, Signer | None]] = []
        for item in body.get("receipts", []):
            if not item.get("status_package"):
                # A refusal of our own request (bad signature): unsigned, trusted only as the
                # answer to this POST, and only as a refusal.
                if item.get("status_code") == "02":
                    receipt = Receipt(str(item["organ_id"]), "02", str(item["description"]), "")
                    out.append((receipt, json.dumps(item).encode(), None))
                continue
            xml = str(item["status_package"]).encode()
            status = parse_status(xml)
            # Signed by the peer node, or by the answering agency's own pinned key.
            pin = pins.get(status.from_.organ_id)
            held = verify_package(
                xml, expected=[cert, pin] if pin is not None else cert
            ).certificate
            if status.response_for.document_id != exchange_id:
                continue  # a receipt about another package (replayed): not ours
            receipt = Receipt(
                status.from_.organ_id,
                status.status_code.value,
                status.description or "",
                xml.decode(),
            )
            kind = "agency" if pin is not None and held == pin else "node"
            out.append((receipt, xml, Signer(kind, fingerprint(held))))
        return out

    def _record(
        self,
        members: list[int],
        data: bytes,
        exchange_id: str,
        peer: str,
        statuses: list[tuple[Receipt, bytes, Signer | None]],
    ) -> None:
        now = utcnow()
        by_code = {r.organ_id: (r, xml, held_by) for r, xml, held_by in statuses}
        signer = signer_of(data, self.node)
        with self.sessions.begin() as session:
            for d in session.scalars(select(Delivery).where(Delivery.id.in_(members))):
                evidence(
                    session,
                    direction="sent",
                    kind="package",
                    data=data,
                    result="delivered" if d.recipient_code in by_code else "no_receipt",
                    exchange_id=exchange_id,
                    recipient=d.recipient_code,
                    peer=peer,
                    signer=signer,
                )
                d.state, d.sent_at, d.last_error, d.failing_since = "sent", now, None, None
                if d.recipient_code not in by_code:
                    d.last_error = "Nút nhận không trả trạng thái / the node sent no receipt"
                    continue
                receipt, xml, held_by = by_code[d.recipient_code]
                _add_status(session, d, receipt.status_code, receipt.description, now)
                evidence(
                    session,
                    direction="received",
                    kind="status",
                    data=xml,
                    result="recorded",
                    exchange_id=exchange_id,
                    sender=d.recipient_code,
                    peer=peer,
                    status_code=receipt.status_code,
                    signer=held_by,
                )

    # --- statuses back to senders ---------------------------------------------------
    def _statuses(self) -> int:
        ids = self._claim(StatusOutbox)
        if not ids:
            return 0
        with reading(self.sessions) as session:
            rows = session.execute(
                select(StatusOutbox.id, StatusOutbox.document_id)
                .where(StatusOutbox.id.in_(ids))
                .order_by(StatusOutbox.id)
            ).all()

        def send(status_id: int) -> bool:
            try:
                self._renew(StatusOutbox, [status_id])
                self._send_status(status_id)
            except Exception as e:  # noqa: BLE001 - any failure is recorded on the entry
                # One refused is no reason to hold back the next (the sender orders them).
                return self._fail(StatusOutbox, [status_id], e)
            return True

        queues: dict[Hashable, list[int]] = {}
        for status_id, document_id in rows:
            queues.setdefault(document_id, []).append(status_id)  # 03 before 04 …
        self._in_order(queues, send, lambda status_id: self._put_off(StatusOutbox, [status_id]))
        return len(ids)

    def _send_status(self, status_id: int) -> None:
        with reading(self.sessions) as session:
            row = session.get(StatusOutbox, status_id)
            assert row is not None
            doc = session.get(Document, row.document_id)
            agency = session.get(Agency, doc.agency_id) if doc else None
            assert doc is not None and agency is not None
            xml = signed_status(
                self.node,
                status_package(doc, agency, row.status_code, row.description, row.staff),
                session=session,
                keys=self.keys,
                agency_id=agency.id,
            )
            route = self._route(session, row.sender_code)
            if isinstance(route, str):
                raise ValueError(route)
            exchange_id, sender_code, ours = doc.exchange_id, row.sender_code, agency.code
            target = (route.name, route.url) if route is not None else None
        if target is None:
            self._receive_here(xml)
        else:
            self.send(f"{target[1]}/exchange/v1/packages", xml)
        with self.sessions.begin() as session:
            row = session.get(StatusOutbox, status_id)
            assert row is not None
            row.state, row.last_error, row.failing_since = "sent", None, None
            evidence(
                session,
                direction="sent",
                kind="status",
                data=xml,
                result="delivered",
                exchange_id=exchange_id,
                sender=ours,
                recipient=sender_code,
                peer=target[0] if target else self.node.name,
                status_code=row.status_code,
                signer=signer_of(xml, self.node),
            )


def _add_status(
    session: Session, d: Delivery, code: str, description: str | None, at: datetime
) -> None:
    session.add(DeliveryStatus(delivery_id=d.id, code=code, description=description, at=at))
    d.status_code = latest_status(d.status_code, code)


_NO_ORIGINAL = (
    "Văn bản gốc không đến được cơ quan này nên không gửi yêu cầu / the document itself never "
    "reached this recipient, so the request is not sent"
)
_WAITING = (
    "Chờ gói tin trước đó của văn bản này được gửi / waiting for an earlier package of this "
    "document to be delivered"
)


def _must_arrive(row: Delivery | StatusOutbox) -> bool:
    # The sender files each 15/16 under its oldest change still unanswered: one closed here
    # would put the next answer on the wrong change. So it is retried (back-off up to an
    # hour) until it gets through, and holds back the statuses queued behind it.
    return isinstance(row, StatusOutbox) and row.status_code in ("15", "16")


def _reason(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e) or repr(e)


def _gave_up(since: datetime, reason: str) -> str:
    return (
        f"Gửi không thành công từ {since:%Y-%m-%d %H:%M} UTC, đã ngừng thử lại; khắc phục rồi "
        f"gửi lại / failing since {since:%Y-%m-%d %H:%M} UTC, no longer retried; fix the "
        f"cause, then send it again. {reason}"
    )[:2000]


def _closed_event(session: Session, row: Delivery | StatusOutbox) -> None:
    # On the document's timeline: the sender's clerk sees a delivery refused, the receiving
    # clerk a status that never reached the sender.
    doc = session.get(Document, row.document_id)
    if doc is None:
        return
    if isinstance(row, Delivery):
        kind = f"delivery_{row.state}"
        details = {
            "delivery_id": row.id,
            "recipient": row.recipient_code,
            "business_type": row.business_type,
        }
    else:
        kind = f"status_{row.state}"
        details = {"sender": row.sender_code, "status_code": row.status_code}
    record_event(session, doc, kind, actor_id=None, note=row.last_error, details=details)
