"""What the sender sees of a dispatched document: per recipient, the latest status and
history; and sending again a delivery the receiver refused or the outbox gave up on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import in_scope
from engine.documents.kinds import DocStatus
from engine.documents.reading import document_for
from engine.documents.timeline import record_event
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from storage.models import Agency, Delivery, DeliveryStatus, Document, PeerAgency, utcnow

__all__ = [
    "RESENDABLE",
    "STATUS_CODE_NAMES",
    "DeliveryView",
    "deliveries_of",
    "latest_status",
    "resend_delivery",
]

# Closed without reaching the recipient: refused by its node, given up on by the outbox,
# or with no node to go to (or its letter never arrived). A clerk may send these again.
RESENDABLE: Final = ("refused", "failed", "undeliverable")
_MAX_ID: Final = 2**31 - 1  # past the id column: no such delivery, not a database error

# edXML status codes (QCVN 102:2016 status packages).
STATUS_CODE_NAMES: Final[dict[str, str]] = {
    "01": "Đã đến",
    "02": "Từ chối tiếp nhận",
    "03": "Đã tiếp nhận (vào sổ)",
    "04": "Đã đến, đang chờ phân công",
    "05": "Đã phân công, đang xử lý",
    "06": "Đã xử lý xong",
    "13": "Thu hồi văn bản",
    "15": "Đồng ý thu hồi/cập nhật",
    "16": "Từ chối thu hồi/cập nhật",
}


# Handling progresses 01 → 03 → 04 → 05 → 06; a retried status arriving late must not
# move a delivery back.
_PROGRESS: Final[dict[str, int]] = {"01": 1, "03": 2, "04": 3, "05": 4, "06": 5}


def latest_status(current: str | None, new: str) -> str:
    """The status a delivery shows after `new` arrives."""
    if current in _PROGRESS and new in _PROGRESS and _PROGRESS[new] < _PROGRESS[current]:
        return current
    return new


@dataclass(frozen=True)
class DeliveryView:
    id: int
    recipient_code: str
    recipient_name: str
    business_type: int
    local: bool
    state: str
    status_code: str | None
    status_name: str | None
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    history: list[dict[str, Any]] = field(default_factory=list)


def deliveries_of(session: Session, principal: Principal, document_id: int) -> list[DeliveryView]:
    """Every delivery of the document, oldest first; NotFoundError when the principal may
    not read the document."""
    doc = document_for(session, principal, document_id)
    rows = session.scalars(
        select(Delivery).where(Delivery.document_id == doc.id).order_by(Delivery.id)
    ).all()
    history = _histories(session, [r.id for r in rows])
    return [_view(r, history.get(r.id, [])) for r in rows]


def _histories(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    statuses = session.scalars(
        select(DeliveryStatus)
        .where(DeliveryStatus.delivery_id.in_(ids))
        .order_by(DeliveryStatus.id)  # arrival order: senders' clocks differ
    ).all()
    history: dict[int, list[dict[str, Any]]] = {}
    for s in statuses:
        history.setdefault(s.delivery_id, []).append(
            {
                "code": s.code,
                "name": STATUS_CODE_NAMES.get(s.code, s.code),
                "description": s.description,
                "staff": s.staff,
                "at": s.at,
            }
        )
    return history


def _view(r: Delivery, history: list[dict[str, Any]]) -> DeliveryView:
    return DeliveryView(
        id=r.id,
        recipient_code=r.recipient_code,
        recipient_name=r.recipient_name,
        business_type=r.business_type,
        local=r.peer_id is None,
        state=r.state,
        status_code=r.status_code,
        status_name=STATUS_CODE_NAMES.get(r.status_code) if r.status_code else None,
        attempts=r.attempts,
        last_error=r.last_error,
        sent_at=r.sent_at,
        history=history,
    )


def resend_delivery(
    session: Session, principal: Principal, document_id: int, delivery_id: int
) -> DeliveryView:
    """Put a refused, failed or undeliverable delivery back in the outbox (after its cause
    was fixed), on the timeline and in the audit log. Raises NotFoundError (no such document
    or delivery), PermissionDeniedError (only the issuing agency's clerk or an admin) and
    ConflictError (not closed, a secret document, a recalled letter, a later change waiting).
    """
    doc = document_for(session, principal, document_id)
    issuer = session.get(Agency, doc.agency_id)
    # An admin of the issuing agency's subtree: one elsewhere may read a shared copy only.
    admin_here = principal.is_admin and issuer is not None and in_scope(principal, issuer.path)
    if not (admin_here or principal.has_role("clerk") and principal.agency_id == doc.agency_id):
        raise PermissionDeniedError(
            "Chỉ văn thư cơ quan ban hành hoặc quản trị hệ thống được gửi lại / only the "
            "issuing agency's clerk or an admin may send it again",
            code="role_required",
        )
    row = (
        session.scalar(
            select(Delivery).where(Delivery.id == delivery_id, Delivery.document_id == doc.id)
        )
        if 0 < delivery_id <= _MAX_ID
        else None
    )
    if row is None:
        raise NotFoundError(
            f"Văn bản {doc.id} không có lần gửi {delivery_id} / document {doc.id} has no "
            f"delivery {delivery_id}",
            code="delivery_not_found",
        )
    _check_resendable(session, doc, row)
    before = {"state": row.state, "last_error": row.last_error, "attempts": row.attempts}
    local = session.scalar(select(Agency.id).where(Agency.code == row.recipient_code))
    row.peer_id = (
        None
        if local
        else session.scalar(select(PeerAgency.peer_id).where(PeerAgency.code == row.recipient_code))
    )
    row.state, row.next_attempt_at, row.attempts = "pending", utcnow(), 0
    row.last_error, row.failing_since = None, None
    details = {"delivery_id": row.id, "recipient": row.recipient_code, **before}
    record_event(session, doc, "delivery_resent", actor_id=principal.user_id, details=details)
    audit.record(session, principal.user_id, "resend_delivery", "delivery", row.id, details)
    session.flush()
    return _view(row, _histories(session, [row.id]).get(row.id, []))


def _check_resendable(session: Session, doc: Document, row: Delivery) -> None:
    if row.state not in RESENDABLE:
        raise ConflictError(
            f"Lần gửi {row.id} đang ở trạng thái {row.state}; chỉ gửi lại được lần gửi bị từ "
            f"chối, thất bại hoặc không gửi được / delivery {row.id} is {row.state}; only a "
            "refused, failed or undeliverable delivery can be sent again",
            code="not_resendable",
        )
    if doc.secrecy > 0:
        raise ConflictError(
            "Văn bản mật không gửi qua mạng liên thông; gửi bản giấy / secret documents are "
            "not sent over the exchange; send the paper copy",
            code="secret_document",
        )
    later = session.scalar(
        select(Delivery.id).where(
            Delivery.document_id == doc.id,
            Delivery.recipient_code == row.recipient_code,
            Delivery.business_type.in_((1, 2)),
            Delivery.id > row.id,
            # Answered or not: one that reached the receiver (or may) came first there.
            Delivery.state.in_(("pending", "sent")),
        )
    )
    if row.business_type in (1, 2) and later is not None:
        # The receiver answers changes in arrival order; this one would come after it.
        raise ConflictError(
            f"Yêu cầu sau (lần gửi {later}) đã hoặc sắp đến nơi nhận; không gửi lại yêu cầu "
            f"trước nó / a later request (delivery {later}) has reached the receiver or is on "
            "its way; the earlier one is not sent after it",
            code="later_change_pending",
        )
    if row.business_type in (0, 2, 3) and doc.status != DocStatus.DISPATCHED:
        # The recall went only to those who had the letter: sent now, it would stay live;
        # an update would reach a copy already recalled.
        raise ConflictError(
            f"Văn bản {doc.id} đã thu hồi; không gửi lại văn bản / document {doc.id} was "
            "recalled; it is not sent again",
            code="document_recalled",
        )
