"""Agencies (a tree of any depth), users, roles and access tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["Agency", "ApiToken", "User", "UserRole"]


class Agency(Base):
    """An agency; `path` is the materialised path of ids (`/1/4/9/`) so a subtree is one LIKE."""

    __tablename__ = "agencies"
    # Subtrees are `path LIKE '/1/4/%'`: on PostgreSQL a btree on text serves a LIKE prefix
    # only with text_pattern_ops (the database's collation may not sort bytewise).
    __table_args__ = (
        Index("ix_agencies_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(35), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    # Text: each level adds its id and a slash, and a tree may be of any depth.
    path: Mapped[str] = mapped_column(Text, default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    clearance: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="UserRole.role"
    )
    agency: Mapped[Agency] = relationship(lazy="raise")


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))


class ApiToken(Base):
    """A bearer token; only its keyed hash is stored. Session tokens expire, API tokens may not."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id_kind", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
