"""Configured signing keys: an agency's seal key or an official's own key, secrets encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

__all__ = ["ExternalSigning", "SignatureUpgrade", "SigningKey"]


class SigningKey(Base):
    """A PKCS#12 file or a PKCS#11 token key that the server signs with for its owner.

    Exactly one owner: `agency_id` (the agency's seal key, used by its clerks) or `user_id`
    (an official's personal key). Secrets — the .p12 bytes, its password, the token PIN —
    are stored only encrypted by the engine (`*_enc`, AES-GCM); the
    certificate's subject, serial and expiry are in clear for listing. `version` grows
    whenever the row changes, so a key cached by (id, version) is never stale.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("(agency_id IS NULL) <> (user_id IS NULL)", name="one_owner"),
        CheckConstraint("kind IN ('pkcs12', 'pkcs11')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(255))
    pkcs12_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    password_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    module_path: Mapped[str | None] = mapped_column(String(500))
    token_label: Mapped[str | None] = mapped_column(String(255))
    key_label: Mapped[str | None] = mapped_column(String(255))
    cert_label: Mapped[str | None] = mapped_column(String(255))
    pin_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    chain_pem: Mapped[str | None] = mapped_column(Text)  # CA certificates sent with signatures
    subject: Mapped[str] = mapped_column(String(500))
    serial: Mapped[str] = mapped_column(String(64))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    image_file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SignatureUpgrade(Base):
    """A file signed at B-T waiting to be raised to B-LTA by the worker (the job's queue).

    `state`: pending → done, or failed after too many attempts (`last_error` says why).
    """

    __tablename__ = "signature_upgrades"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    result_file_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExternalSigning(Base):
    """A signature prepared for a device the server does not hold, waiting for its value.

    Everything the second step needs is here and in the object store (`prepared_key`: the
    PDF with the signature's place reserved), so it survives a restart.
    """

    __tablename__ = "external_signings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    prepared_key: Mapped[str] = mapped_column(String(100), index=True)
    document_digest: Mapped[bytes] = mapped_column(LargeBinary)
    region_start: Mapped[int] = mapped_column(Integer)
    region_end: Mapped[int] = mapped_column(Integer)
    signed_attrs: Mapped[bytes] = mapped_column(LargeBinary)
    field_name: Mapped[str] = mapped_column(String(64))
    certificates_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result_file_id: Mapped[str | None] = mapped_column(String(36))
