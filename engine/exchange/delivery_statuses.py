"""Statuses received about our own outgoing documents, recorded on the delivery they answer."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.documents.deliveries import latest_status
from engine.exchange.model import StatusPackage
from storage.models import Delivery, DeliveryStatus, Document

__all__ = ["answered_delivery", "record_delivery_status"]


def answered_delivery(session: Session, status: StatusPackage) -> Delivery | None:
    """The delivery a status package answers, or None: our latest delivery of the document
    it names to the agency sending it (or of its replacement); for 15/16 the oldest recall,
    update or replacement sent there and not yet answered (the receiver answers them in
    order), else the latest of those. Secret documents are never answered."""
    change = status.status_code.value in ("15", "16")
    ours = (
        select(Delivery)
        .join(Document, Document.id == Delivery.document_id)
        .where(
            Document.exchange_id == status.response_for.document_id,
            # Secret documents never travel over the exchange, and their own number series
            # gives one the same DocumentId as a normal letter of that day: never theirs.
            Document.secrecy == 0,
            Delivery.recipient_code == status.from_.organ_id,
            (Delivery.business_type != 0) if change else Delivery.business_type.in_((0, 3)),
        )
    )
    if change:
        unanswered = session.scalar(
            ours.where(
                Delivery.state == "sent",
                or_(Delivery.status_code.is_(None), Delivery.status_code.not_in(("15", "16"))),
            )
            .order_by(Delivery.id)
            .limit(1)
        )
        if unanswered is not None:
            return unanswered
    return session.scalar(ours.order_by(Delivery.id.desc()).limit(1))


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
