"""Administrative procedures (TTHC), working-calendar overrides and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["AuditEvent", "CalendarDay", "Procedure", "TrustedCertificate"]


class Procedure(Base):
    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    field: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(16), index=True)
    competent_agency_kind: Mapped[str] = mapped_column(String(32))
    competent_unit: Mapped[str] = mapped_column(String(500))
    processing_days: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    fee_amount: Mapped[int] = mapped_column(Integer, default=0)
    fee_note: Mapped[str | None] = mapped_column(Text)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    online_level: Mapped[str] = mapped_column(String(16))
    process_id: Mapped[str] = mapped_column(String(100))
    step_shares: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    legal_basis: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CalendarDay(Base):
    """A day the government decided on: extra holiday, compensatory day, make-up workday."""

    __tablename__ = "calendar_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(128), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TrustedCertificate(Base):
    """A root or intermediate CA the admins trust for signature validation."""

    __tablename__ = "trusted_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
