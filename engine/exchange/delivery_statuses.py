"""Statuses received about our own outgoing documents, recorded on the delivery they answer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.documents.deliveries import latest_status
from engine.exchange.model import StatusPackage
from storage.models import Delivery, DeliveryStatus, Document

__all__ = ["answered_delivery", "record_delivery_status"]


def answered_delivery(session: Session, status: StatusPackage) -> Delivery | None:
    """The delivery a status package answers, or None: our latest delivery of the document
    it names to the agency sending it; for 15/16 a recall, update or replacement, else the
    document itself (or its replacement)."""
    change = status.status_code.value in ("15", "16")
    return session.scalar(
        select(Delivery)
        .join(Document, Document.id == Delivery.document_id)
        .where(
            Document.exchange_id == status.response_for.document_id,
            Delivery.recipient_code == status.from_.organ_id,
            (Delivery.business_type != 0) if change else Delivery.business_type.in_((0, 3)),
        )
        .order_by(Delivery.id.desc())
        .limit(1)
    )


def record_delivery_status(session: Session, delivery: Delivery, status: StatusPackage) -> None:
    """Add the status to the delivery's history and move its current code forward."""
    session.add(
        DeliveryStatus(
            delivery_id=delivery.id,
            code=status.status_code.value,
            description=status.description,
            staff=status.staff_info.staff if status.staff_info else None,
            at=status.timestamp,
        )
    )
    delivery.status_code = latest_status(delivery.status_code, status.status_code.value)
