"""Recall, update and replacement of a sent document (edXML business types 1, 2, 3).

The sender's clerk recalls or updates a dispatched document (a replacement is a new
document naming the one it replaces); each recipient that received it gets a package of
that business type. The receiver's clerk accepts (status 15) or refuses (16): an accepted
recall or replacement closes the receiver's copy, an accepted update changes its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.documents.dispatch import queue_deliveries
from engine.documents.kinds import DocStatus
from engine.documents.reading import document_for
from engine.documents.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, PermissionDeniedError
from engine.exchange.change_requests import CHANGE_NAMES, queue_answer
from engine.principal import Principal
from engine.runtime.cancel import cancel_instance
from storage.models import Delivery, Document, utcnow

__all__ = ["CHANGE_NAMES", "DocumentUpdate", "answer_change", "recall", "send_update"]


@dataclass(frozen=True)
class DocumentUpdate:
    """The metadata an update may change; None leaves a field as it is."""

    subject: str | None = None
    summary: str | None = None
    due_date: date | None = None
    urgency: int | None = None


def _sent_document(session: Session, principal: Principal, document_id: int) -> Document:
    doc = document_for(session, principal, document_id)
    if not principal.has_role("clerk") or principal.agency_id != doc.agency_id:
        raise PermissionDeniedError(
            "Chỉ văn thư cơ quan ban hành / only the issuing agency's clerk", code="role_required"
        )
    if doc.direction != "outgoing" or doc.status != DocStatus.DISPATCHED:
        raise ConflictError(
            f"Văn bản {doc.id} chưa phát hành hoặc đã thu hồi / document {doc.id} is not a "
            "dispatched outgoing document",
            code="not_dispatched",
        )
    return doc


def _received_by(session: Session, doc: Document, business: int) -> list[dict[str, Any]]:
    if session.scalar(
        select(Delivery.id).where(
            Delivery.document_id == doc.id, Delivery.business_type == business
        )
    ):
        raise ConflictError(
            f"Đã gửi yêu cầu {CHANGE_NAMES[business]} cho văn bản này; hãy ban hành văn bản thay "
            f"thế / a {CHANGE_NAMES[business]} was already sent for this document; issue a "
            "replacement instead",
            code="change_already_sent",
        )
    # Still pending counts: the outbox sends the change only after the document itself.
    rows = session.scalars(
        select(Delivery).where(
            Delivery.document_id == doc.id,
            Delivery.business_type.in_((0, 3)),  # the letter, or the replacement it is
            Delivery.state.in_(("sent", "pending")),
            or_(Delivery.status_code.is_(None), Delivery.status_code != "02"),
        )
    ).all()
    return [{"code": d.recipient_code, "name": d.recipient_name} for d in rows]


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidInputError(
            "Cần nêu lý do / a reason is required",
            details=[{"field": "reason", "message": "required"}],
        )
    return text


def recall(session: Session, principal: Principal, document_id: int, reason: str) -> Document:
    """Recall a dispatched document from every agency that received it (business type 1).

    The document is frozen (status recalled); each recipient answers 15 or 16. Raises
    PermissionDeniedError, ConflictError (not dispatched, already recalled), InvalidInputError.
    """
    doc = _sent_document(session, principal, document_id)
    why = _reason(reason)
    recipients = _received_by(session, doc, 1)
    queue_deliveries(session, doc, recipients, business_type=1, reason=why)
    record_event(
        session,
        doc,
        "recall_sent",
        actor_id=principal.user_id,
        status=DocStatus.RECALLED,
        note=why,
        details={"recipients": [r["code"] for r in recipients]},
    )
    audit.record(session, principal.user_id, "recall", "document", doc.id, {"reason": why})
    return doc


def send_update(
    session: Session, principal: Principal, document_id: int, update: DocumentUpdate, reason: str
) -> Document:
    """Change a dispatched document's metadata and send the update (business type 2)."""
    doc = _sent_document(session, principal, document_id)
    why = _reason(reason)
    changes = {k: v for k, v in vars(update).items() if v is not None}
    if not changes:
        raise InvalidInputError(
            "Không có gì thay đổi / nothing to update",
            details=[{"field": "subject", "message": "give at least one field"}],
        )
    recipients = _received_by(session, doc, 2)
    for key, value in changes.items():
        setattr(doc, key, value)
    queue_deliveries(session, doc, recipients, business_type=2, reason=why)
    record_event(
        session,
        doc,
        "update_sent",
        actor_id=principal.user_id,
        note=why,
        details={k: str(v) for k, v in changes.items()},
    )
    return doc


def _apply(session: Session, doc: Document, business: int, actor: int) -> None:
    details = doc.pending_details or {}
    if business == 2:
        for key in ("subject", "summary", "urgency"):
            if details.get(key) is not None:
                setattr(doc, key, details[key])
        if details.get("due_date"):
            doc.due_date = date.fromisoformat(details["due_date"])
        return
    closed = doc if business == 1 else session.get(Document, doc.replaces_id or -1)
    if closed is not None:
        cancel_instance(session, closed.instance_id)
        closed.finished_at = utcnow()
        record_event(
            session,
            closed,
            "recalled" if business == 1 else "replaced",
            actor_id=actor,
            status=DocStatus.RECALLED,
            details={"by": doc.id} if business == 3 else {},
        )


def answer_change(
    session: Session, principal: Principal, document_id: int, accept: bool, reason: str | None
) -> Document:
    """The receiving clerk accepts (15) or refuses (16) the sender's recall, update or
    replacement; the answer goes back to the sender. Raises ConflictError when nothing
    waits for an answer, PermissionDeniedError for another agency or role."""
    doc = document_for(session, principal, document_id)
    if not principal.has_role("clerk") or principal.agency_id != doc.agency_id:
        raise PermissionDeniedError(
            "Chỉ văn thư cơ quan nhận / only the receiving agency's clerk", code="role_required"
        )
    business = doc.pending_change
    if business is None:
        raise ConflictError(
            f"Văn bản {doc.id} không có yêu cầu thu hồi/cập nhật/thay thế nào chờ trả lời / "
            f"document {doc.id} has no recall, update or replacement waiting for an answer",
            code="no_pending_change",
        )
    if accept:
        _apply(session, doc, business, principal.user_id)
    elif business == 3:
        cancel_instance(session, doc.instance_id)
        doc.status = DocStatus.REFUSED
    code = "15" if accept else "16"
    text = (reason or "").strip() or ("Đồng ý" if accept else "Không đồng ý")
    record_event(
        session,
        doc,
        "change_accepted" if accept else "change_refused",
        actor_id=principal.user_id,
        note=text,
        details={"business_type": business},
    )
    doc.pending_change, doc.pending_reason, doc.pending_details = None, None, None
    queue_answer(session, doc, business, accept, text, principal.full_name)
    audit.record(session, principal.user_id, "answer_change", "document", doc.id, {"status": code})
    return doc
