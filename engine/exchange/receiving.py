"""Receiving packages: verify the sender, store, de-duplicate, register, answer 01/02.

A package must be signed with the certificate of the node serving its sending agency
(`From/OrganId`) or with the certificate pinned for that agency itself (its own key), and
the evidence log says which (`engine.exchange.signers`). Receipts are signed for the
receiving agency (its own key when it has a usable one, else the node's:
`engine.exchange.agency_keys`).

One code path for every package: from another node over HTTP, or from an agency on this
node (the outbox hands it over directly). Statuses about our own outgoing documents come
in the same way and are recorded on the delivery they answer
(`engine.exchange.delivery_statuses`). The header checks are in
`engine.exchange.header_checks`, recall/update/replace requests in
`engine.exchange.change_requests`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.documents.drafting import start_incoming
from engine.documents.kinds import DocStatus
from engine.documents.timeline import record_event
from engine.errors import ExchangeError
from engine.exchange.agency_keys import AgencyKeys, sign_as
from engine.exchange.change_requests import change_request, replacement
from engine.exchange.delivery_statuses import answered_delivery, record_delivery_status
from engine.exchange.edxml import build_status, parse_package
from engine.exchange.evidence import evidence, record_refusal
from engine.exchange.header_checks import check_document_id, check_lengths
from engine.exchange.identity import NodeIdentity
from engine.exchange.model import DocumentPackage, StatusPackage
from engine.exchange.packages import status_package
from engine.exchange.signers import Sender, Signer, sender_of, signer_of, verify_signer
from engine.files import Spooled, put_object, spool, store_system_file
from signing.errors import XmlSignatureError
from storage.models import Agency, Document, DocumentFile, ReceivedPackage, utcnow
from storage.objects import ObjectStore, key_for

__all__ = ["Receipt", "receive_logged", "receive_package", "signed_status"]


@dataclass(frozen=True)
class Receipt:
    organ_id: str
    status_code: str
    description: str
    status_package: str  # the signed edXML status package, as text


def signed_status(
    node: NodeIdentity,
    status: StatusPackage,
    *,
    session: Session | None = None,
    keys: AgencyKeys | None = None,
    agency_id: int | None = None,
) -> bytes:
    """A status package signed for the agency `agency_id` sending it: with its own exchange
    key when `keys` opens one, else with this node's key."""
    return sign_as(session, keys, node, agency_id, build_status(status))


def _receipt(
    session: Session,
    node: NodeIdentity,
    doc: Document,
    agency: Agency,
    code: str,
    text: str,
    keys: AgencyKeys | None,
) -> Receipt:
    status = status_package(doc, agency, code, text, None)
    xml = signed_status(node, status, session=session, keys=keys, agency_id=agency.id)
    evidence(
        session,
        direction="sent",
        kind="status",
        data=xml,
        result="answered",
        exchange_id=doc.exchange_id,
        sender=agency.code,
        recipient=doc.issuer_code,
        status_code=code,
        signer=signer_of(xml, node),
    )
    return Receipt(agency.code, code, text, xml.decode())


def _store_package(store: ObjectStore, data: bytes) -> str:
    key = key_for(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data), content_type="application/xml")
    return key


@dataclass(frozen=True)
class _Checked:
    package: DocumentPackage | StatusPackage
    peer: str
    key: str
    problem: XmlSignatureError | None
    files: tuple[Spooled, ...] = ()  # the attachments, spooled and already in the store
    signer: Signer | None = None  # the certificate the signature held with

    def discard(self) -> None:
        """Remove the spooled copies (the objects stay in the store)."""
        for f in self.files:
            f.path.unlink(missing_ok=True)


def _sender(package: DocumentPackage | StatusPackage) -> str:
    if isinstance(package, StatusPackage):
        return package.from_.organ_id
    return package.message_header.from_.organ_id


def _check(
    store: ObjectStore,
    data: bytes,
    package: DocumentPackage | StatusPackage,
    sender: Sender,
    tmp_dir: Path,
) -> _Checked:
    """Store the package, verify its signature and, if it holds, store the attachments:
    the slow work, kept out of the writing transaction."""
    peer = sender.peer
    key = _store_package(store, data)
    try:
        signer = verify_signer(data, sender)
    except XmlSignatureError as e:
        return _Checked(package, peer, key, e)
    files: list[Spooled] = []
    if isinstance(package, DocumentPackage):
        try:
            for a in package.attachments:
                files.append(spool([a.data], limit=len(a.data) + 1, tmp_dir=tmp_dir))
                put_object(store, files[-1])
        except BaseException:
            _Checked(package, peer, key, None, tuple(files)).discard()
            raise
    return _Checked(package, peer, key, None, tuple(files), signer)


def receive_package(
    session: Session,
    store: ObjectStore,
    node: NodeIdentity,
    data: bytes,
    *,
    tmp_dir: Path,
    keys: AgencyKeys | None = None,
) -> list[Receipt]:
    """Take one package addressed to agencies of this node; return a receipt per recipient.

    A document package gets 01 (arrived; delivering it again changes nothing) or 02 with
    the reason (signature broken, agency not served here). `keys` opens this node's
    agencies' own keys (to check a package between two of them, to sign receipts). Raises
    PackageInvalid for bytes that are not a safe edXML package and ExchangeError for an
    unknown sender.
    """
    package = parse_package(data)
    sender = sender_of(session, node, _sender(package), keys)
    checked = _check(store, data, package, sender, tmp_dir)
    try:
        return _accept(session, store, node, checked, data, keys)
    finally:
        checked.discard()


def _accept(
    session: Session,
    store: ObjectStore,
    node: NodeIdentity,
    checked: _Checked,
    data: bytes,
    keys: AgencyKeys | None,
) -> list[Receipt]:
    package = checked.package
    if isinstance(package, StatusPackage):
        _record_status(session, package, data, checked)
        return []
    return _documents(session, store, node, package, data, checked, keys)


def receive_logged(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    node: NodeIdentity,
    data: bytes,
    *,
    tmp_dir: Path,
    keys: AgencyKeys | None = None,
) -> list[Receipt]:
    """`receive_package` with the slow parts (parsing, signature check, storing the package
    and its attachments) outside the writing transaction, which on SQLite locks the
    database; a refused package is still logged, in a transaction of its own."""
    try:
        package = parse_package(data)
        with sessions.begin() as session:
            sender = sender_of(session, node, _sender(package), keys)
        checked = _check(store, data, package, sender, tmp_dir)
        try:
            with sessions.begin() as session:
                return _accept(session, store, node, checked, data, keys)
        finally:
            checked.discard()
    except ExchangeError as e:
        with sessions.begin() as session:
            record_refusal(session, data, e)
        raise


def _record_status(session: Session, status: StatusPackage, data: bytes, checked: _Checked) -> None:
    peer, key, problem = checked.peer, checked.key, checked.problem
    ref = status.response_for.document_id
    common = {
        "direction": "received",
        "kind": "status",
        "data": data,
        "exchange_id": ref,
        "sender": status.from_.organ_id,
        "peer": peer,
        "status_code": status.status_code.value,
        "object_key": key,
        "signer": checked.signer,
    }
    if problem is not None:
        evidence(session, result=problem.code, detail=problem.message, **common)  # type: ignore[arg-type]
        raise ExchangeError(
            f"Gói trạng thái có chữ ký không hợp lệ: {problem.message} / the status package's "
            "signature does not hold",
            code="status_signature_invalid",
        )
    delivery = answered_delivery(session, status)
    if delivery is None:
        evidence(session, result="unknown_document", **common)  # type: ignore[arg-type]
        raise ExchangeError(
            f"Không có văn bản đã gửi {ref} tới {status.from_.organ_id} / no document {ref} was "
            f"sent to {status.from_.organ_id}",
            code="unknown_delivery",
        )
    record_delivery_status(session, delivery, status)
    evidence(session, result="recorded", **common)  # type: ignore[arg-type]


def _documents(
    session: Session,
    store: ObjectStore,
    node: NodeIdentity,
    package: DocumentPackage,
    data: bytes,
    checked: _Checked,
    keys: AgencyKeys | None,
) -> list[Receipt]:
    peer, key, problem = checked.peer, checked.key, checked.problem
    header = package.message_header
    business = int(package.trace_header_list.business.business_doc_type)
    check_document_id(header)
    check_lengths(header)
    receipts = []
    for to in header.to:
        agency = session.scalar(select(Agency).where(Agency.code == to.organ_id))
        common = {
            "direction": "received",
            "kind": "package",
            "data": data,
            "exchange_id": header.document_id,
            "sender": header.from_.organ_id,
            "recipient": to.organ_id,
            "peer": peer,
            "object_key": key,
            "signer": checked.signer,
        }
        if agency is None:
            evidence(session, result="unknown_recipient", **common)  # type: ignore[arg-type]
            continue
        if problem is not None:
            # Refused, but not signed: a status signed by this node about a package nobody
            # authenticated would let anyone obtain our signature on any DocumentId.
            evidence(session, result=problem.code, detail=problem.message, **common)  # type: ignore[arg-type]
            receipts.append(Receipt(agency.code, "02", problem.message, ""))
            continue
        doc, fresh = _incoming(session, store, package, agency, business, data, checked.files)
        evidence(session, result="accepted" if fresh else "duplicate", **common)  # type: ignore[arg-type]
        receipts.append(_receipt(session, node, doc, agency, "01", "Đã đến / arrived", keys))
    if not receipts:
        raise ExchangeError(
            "Không cơ quan nhận nào của gói tin do nút này phục vụ / none of the package's "
            "recipients is served by this node",
            code="unknown_recipient",
        )
    return receipts


def _incoming(
    session: Session,
    store: ObjectStore,
    package: DocumentPackage,
    agency: Agency,
    business: int,
    data: bytes,
    files: tuple[Spooled, ...],
) -> tuple[Document, bool]:
    header = package.message_header
    key = (
        ReceivedPackage.agency_id == agency.id,
        ReceivedPackage.exchange_id == header.document_id,
        ReceivedPackage.business_type == business,
    )
    seen = session.scalar(select(ReceivedPackage).where(*key))
    if seen is None:
        # Claim the package first: a concurrent delivery of the same one (PostgreSQL) waits
        # on this row and, once the first commits, finds it and answers as a duplicate.
        claim = ReceivedPackage(
            agency_id=agency.id,
            exchange_id=header.document_id,
            business_type=business,
            sender_code=header.from_.organ_id,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        try:
            with session.begin_nested():
                session.add(claim)
                session.flush()
        except IntegrityError:
            seen = session.scalar(select(ReceivedPackage).where(*key))
    if seen is not None:
        doc = session.get(Document, seen.document_id) if seen.document_id else None
        if doc is None:
            raise ExchangeError(
                f"Gói tin {header.document_id} đang được xử lý; gửi lại sau / package "
                f"{header.document_id} is being received; send it again later",
                code="package_in_progress",
            )
        return doc, False
    if business in (0, 3):
        doc = _new_incoming(session, store, package, agency, files)
        if business == 3:
            replacement(session, package, doc)
    else:
        doc = change_request(session, package, agency, business)
    claim.document_id = doc.id
    session.flush()
    return doc, True


def _new_incoming(
    session: Session,
    store: ObjectStore,
    package: DocumentPackage,
    agency: Agency,
    files: tuple[Spooled, ...],
) -> Document:
    h = package.message_header
    doc = Document(
        agency_id=agency.id,
        direction="incoming",
        status=DocStatus.RECEIVED,
        type_name=h.document_type.type_name or "Văn bản",
        type_code=h.document_type.type,
        code_number=h.code.code_number,
        notation=h.code.code_notation or None,
        issued_date=h.promulgation_info.promulgation_date,
        issuer_code=h.from_.organ_id,
        issuer_name=h.from_.organ_name or h.from_.organ_id,
        place=h.promulgation_info.place or None,
        subject=h.subject,
        summary=h.content,
        pages=h.other_info.page_amount,
        signer_name=h.signer_info.full_name if h.signer_info else None,
        signer_position=h.signer_info.position if h.signer_info else None,
        signer_competence=h.signer_info.competence if h.signer_info else None,
        recipients=[{"code": t.organ_id, "name": t.organ_name} for t in h.to],
        to_places=list(h.to_places),
        urgency=int(h.other_info.priority),
        due_date=h.due_date,
        arrival_at=utcnow(),
        exchange_id=h.document_id,
    )
    session.add(doc)
    session.flush()
    for n, (a, upload) in enumerate(zip(package.attachments, files, strict=True), 1):
        view = store_system_file(
            session,
            store,
            upload,
            a.name,
            agency_id=agency.id,
            owner=("document", str(doc.id)),
            stored=True,
        )
        session.add(
            DocumentFile(
                document_id=doc.id,
                file_root_id=view.root_id,
                role="main" if n == 1 else "attachment",
                position=n,
            )
        )
    record_event(
        session,
        doc,
        "arrived",
        actor_id=None,
        status=DocStatus.RECEIVED,
        details={"from": h.from_.organ_id},
    )
    start_incoming(session, doc, None, registered=False)
    return doc
