"""Official documents (văn bản đi/đến, Decree 30/2020), their timeline and register counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["Document", "DocumentEvent", "DocumentFile", "DocumentShare", "RegisterCounter"]


class Document(Base):
    """An outgoing or incoming document with the metadata of Decree 30 appendix VI.

    `register` + `year` + `number` is the register entry (outgoing number, or arrival number
    for incoming); `own_code` ("05/QĐ-UBND") is set only on numbered outgoing documents so
    the database itself keeps number + notation unique per agency, register and year (the
    secret series numbers from 01 beside the normal one, Decree 30/2020).
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("agency_id", "register", "year", "number"),
        UniqueConstraint("agency_id", "register", "year", "own_code"),
        Index("ix_documents_agency_direction", "agency_id", "direction", "created_at"),
        # Duplicate detection (engine.documents.drafting.find_duplicate) compares numbers
        # without leading zeros: the index holds that expression, so the check stays a
        # seek however many letters one issuer has sent.
        Index(
            "ix_documents_duplicates",
            "agency_id",
            "issuer_code",
            func.ltrim(text("code_number"), text("'0'")),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    direction: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    type_name: Mapped[str] = mapped_column(String(100))
    type_code: Mapped[str | None] = mapped_column(String(16))
    register: Mapped[str | None] = mapped_column(String(24))
    year: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[int | None] = mapped_column(Integer)
    code_number: Mapped[str | None] = mapped_column(String(11))
    notation: Mapped[str | None] = mapped_column(String(30))
    own_code: Mapped[str | None] = mapped_column(String(48))
    issued_date: Mapped[date | None] = mapped_column(Date)
    issuer_code: Mapped[str] = mapped_column(String(35))
    issuer_name: Mapped[str] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(150))
    subject: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(30), default="Tiếng Việt")
    pages: Mapped[int | None] = mapped_column(Integer)
    signer_name: Mapped[str | None] = mapped_column(String(50))
    signer_position: Mapped[str | None] = mapped_column(String(100))
    signer_competence: Mapped[str | None] = mapped_column(String(20))
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    to_places: Mapped[list[str]] = mapped_column(JSON, default=list)
    urgency: Mapped[int] = mapped_column(Integer, default=0)
    secrecy: Mapped[int] = mapped_column(Integer, default=0)
    due_date: Mapped[date | None] = mapped_column(Date)
    copies: Mapped[int | None] = mapped_column(Integer)
    arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handling_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exchange_id: Mapped[str | None] = mapped_column(String(160), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL")
    )
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_instances.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sender's recall (1), update (2) or replacement (3) waiting for this agency's answer.
    pending_change: Mapped[int | None] = mapped_column(Integer)
    pending_reason: Mapped[str | None] = mapped_column(Text)
    pending_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DocumentFile(Base):
    """A file of a document: the main text, or an attachment; the chain root is the identity."""

    __tablename__ = "document_files"
    __table_args__ = (UniqueConstraint("document_id", "file_root_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    file_root_id: Mapped[str] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)


class DocumentShare(Base):
    """Another agency taking part: the unit leading the handling, or a coordinating unit."""

    __tablename__ = "document_shares"
    __table_args__ = (UniqueConstraint("document_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class DocumentEvent(Base):
    """The document's timeline: status changes, directions (bút phê), signatures, deliveries."""

    __tablename__ = "document_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RegisterCounter(Base):
    """The last number an agency's register gave out in a year (numbers restart on 1 January)."""

    __tablename__ = "register_counters"
    __table_args__ = (UniqueConstraint("agency_id", "register", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"))
    register: Mapped[str] = mapped_column(String(24))
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)
