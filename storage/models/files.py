"""Stored files: a row per version, pointing at a content-addressed object."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["StoredFile"]


class StoredFile(Base):
    """One version of a file. Versions chain through `previous_id`; `root_id` names the chain."""

    __tablename__ = "files"
    __table_args__ = (
        Index("ix_files_owner", "owner_type", "owner_id"),
        # One version number per chain: two writers racing to add "the next version" cannot
        # both succeed, so a chain never forks.
        UniqueConstraint("root_id", "version"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    previous_id: Mapped[str | None] = mapped_column(
        ForeignKey("files.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(127))
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(100), index=True)
    archived: Mapped[bool] = mapped_column(default=False)
    record_class: Mapped[str | None] = mapped_column(String(64))
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    secrecy: Mapped[int] = mapped_column(Integer, default=0)
    owner_type: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    delete_reason: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
