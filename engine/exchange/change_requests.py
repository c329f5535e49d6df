"""Recall, update and replacement requests received for incoming documents (edXML business
types 1, 2 and 3): kept pending on the document until its clerk answers them with 15 or 16
(`engine.documents.changes`)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.timeline import record_event
from engine.errors import ExchangeError
from engine.exchange.model import DocumentPackage
from storage.models import Agency, Document, StatusOutbox, utcnow

__all__ = ["CHANGE_NAMES", "change_request", "queue_answer", "replacement"]

CHANGE_NAMES: Final[dict[int, str]] = {1: "thu hồi", 2: "cập nhật", 3: "thay thế"}
_CHANGE_NAMES_EN: Final[dict[int, str]] = {1: "recall", 2: "update", 3: "replacement"}


def change_request(
    session: Session, package: DocumentPackage, agency: Agency, business: int
) -> Document:
    """Mark the incoming document the package recalls or updates (business 1 or 2) as
    waiting for its clerk's answer; return it.

    Raises ExchangeError (`unknown_document`) when that document was never received here.
    """
    h = package.message_header
    doc = session.scalar(
        select(Document).where(
            Document.agency_id == agency.id,
            Document.direction == "incoming",
            Document.exchange_id == h.document_id,
            Document.issuer_code == h.from_.organ_id,
        )
    )
    if doc is None:
        raise ExchangeError(
            f"Chưa nhận văn bản {h.document_id} nên không thể thu hồi/cập nhật / document "
            f"{h.document_id} was never received here",
            code="unknown_document",
        )
    _pending(session, package, doc, business)
    return doc


def replacement(session: Session, package: DocumentPackage, doc: Document) -> None:
    """Link the new incoming document `doc` (business 3) to the one it replaces, when that
    one was received here, and mark the replacement as waiting for its clerk's answer."""
    infos = package.trace_header_list.business.replacement_info_list
    replaced = infos[0].document_id if infos else None
    old = session.scalar(
        select(Document).where(
            Document.agency_id == doc.agency_id,
            Document.direction == "incoming",
            Document.exchange_id == replaced,
            Document.issuer_code == doc.issuer_code,
        )
    )
    doc.replaces_id = old.id if old is not None else None
    _pending(session, package, doc, 3)


def queue_answer(
    session: Session, doc: Document, business: int, accept: bool, text: str, staff: str | None
) -> None:
    """Queue status 15 (accepted) or 16 (refused) for the request of type `business` the
    sender made about `doc`; the outbox sends it back in order with the document's other
    statuses."""
    session.add(
        StatusOutbox(
            document_id=doc.id,
            sender_code=doc.issuer_code,
            status_code="15" if accept else "16",
            description=f"{CHANGE_NAMES[business]}: {text}",
            staff=staff,
            next_attempt_at=utcnow(),
        )
    )


def _pending(session: Session, package: DocumentPackage, doc: Document, business: int) -> None:
    # The receiving clerk answers it: 15 accepts, 16 refuses (engine.documents.changes).
    h = package.message_header
    reason = package.trace_header_list.business.business_doc_reason
    earlier = doc.pending_change
    if earlier is not None:
        # Status packages do not say which request they answer, so each request gets its
        # own answer, in order: the one a later request makes moot is answered 16 now,
        # before the clerk answers the later one.
        text = (
            f"không áp dụng vì bên gửi đã gửi yêu cầu {CHANGE_NAMES[business]} sau đó / "
            f"superseded by the sender's later {_CHANGE_NAMES_EN[business]}"
        )
        record_event(
            session,
            doc,
            "change_superseded",
            actor_id=None,
            note=text,
            details={"business_type": earlier, "by": business},
        )
        queue_answer(session, doc, earlier, accept=False, text=text, staff=None)
    doc.pending_change, doc.pending_reason = business, reason
    doc.pending_details = {
        "subject": h.subject,
        "summary": h.content,
        "urgency": int(h.other_info.priority),
        "due_date": h.due_date.isoformat() if h.due_date else None,
    }
    kind = {1: "recall_requested", 2: "update_requested", 3: "replace_requested"}[business]
    record_event(
        session, doc, kind, actor_id=None, note=reason, details={"business_type": business}
    )
