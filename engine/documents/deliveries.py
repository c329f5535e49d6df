"""What the sender sees of a dispatched document: per recipient, the latest status and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.reading import document_for
from engine.principal import Principal
from storage.models import Delivery, DeliveryStatus

__all__ = ["STATUS_CODE_NAMES", "DeliveryView", "deliveries_of", "latest_status"]

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
    statuses = session.scalars(
        select(DeliveryStatus)
        .where(DeliveryStatus.delivery_id.in_([r.id for r in rows]))
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
    return [
        DeliveryView(
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
            history=history.get(r.id, []),
        )
        for r in rows
    ]
