"""Document exchange between nodes: peers, deliveries and their statuses, the evidence log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "ExchangeEvidence",
    "ExchangePeer",
    "PeerAgency",
    "ReceivedPackage",
    "StatusOutbox",
]


class ExchangePeer(Base):
    """Another node: where to send packages and the certificate its packages are signed with."""

    __tablename__ = "exchange_peers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeerAgency(Base):
    """An agency served by a peer node (the node directory), and the certificate pinned for
    the agency's own key: packages from it may be signed with that or with the node's."""

    __tablename__ = "peer_agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(35), unique=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("exchange_peers.id", ondelete="CASCADE"), index=True
    )
    certificate_pem: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One package for one recipient agency, in the outbox until its node answers.

    `state`: pending (in the outbox), sent, undeliverable (no node serves the agency, a
    secret document, or its letter never arrived), refused (the receiving node refused it
    for good) or failed (retried past the outbox's limit); the last three until resent.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "recipient_code", "business_type"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    recipient_code: Mapped[str] = mapped_column(String(35))
    recipient_name: Mapped[str] = mapped_column(String(200))
    business_type: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    peer_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchange_peers.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[str | None] = mapped_column(String(2))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the current run of failed attempts began: the outbox gives up after a while.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStatus(Base):
    """A status the recipient sent back (01 arrived, 03 registered, … 15/16 recall answer)."""

    __tablename__ = "delivery_statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str | None] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusOutbox(Base):
    """A status this node owes the sender of an incoming document (03 registered, …)."""

    __tablename__ = "status_outbox"
    __table_args__ = (Index("ix_status_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    sender_code: Mapped[str] = mapped_column(String(35))
    status_code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str | None] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceivedPackage(Base):
    """A package this node accepted for one of its agencies: the key that makes delivery
    idempotent (the same DocumentId and business type twice is the same package)."""

    __tablename__ = "received_packages"
    __table_args__ = (UniqueConstraint("agency_id", "exchange_id", "business_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    exchange_id: Mapped[str] = mapped_column(String(160))
    business_type: Mapped[int] = mapped_column(Integer)
    sender_code: Mapped[str] = mapped_column(String(35))
    sha256: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExchangeEvidence(Base):
    """Append-only log of every package and status sent or received, with its hash."""

    __tablename__ = "exchange_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    exchange_id: Mapped[str | None] = mapped_column(String(160), index=True)
    sender_code: Mapped[str | None] = mapped_column(String(35))
    recipient_code: Mapped[str | None] = mapped_column(String(35))
    peer: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[str | None] = mapped_column(String(2))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str | None] = mapped_column(String(100), index=True)
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    # Whose key the signature that held was made with: "agency" (the sending agency's own)
    # or "node" (the node serving it), and that certificate's SHA-256 fingerprint.
    signed_by: Mapped[str | None] = mapped_column(String(8))
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
