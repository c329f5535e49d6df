"""Signature validation for users: the admins' trust store, and one summary shape for CLI and API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from signing.report import SignatureReport, ValidationReport
from signing.trust import TrustSettings, load_certificates
from storage.models import TrustedCertificate

__all__ = [
    "TrustedView",
    "add_trusted",
    "list_trusted",
    "remove_trusted",
    "summarise",
    "summarise_signature",
    "trust_settings",
]


@dataclass(frozen=True)
class TrustedView:
    id: int
    subject: str
    sha256: str
    not_after: datetime
    added_at: datetime


def summarise_signature(s: SignatureReport) -> dict[str, Any]:
    """The fields a user reads first, as in `lienthong verify --json`."""
    when = s.timestamp_time or s.claimed_time
    return {
        "signer": s.signer_name,
        "signed_at": when.isoformat() if when else None,
        "indication": str(s.indication),
        "sub_indication": s.sub_indication,
        "intact": s.intact,
        "trusted": s.trusted,
        "coverage": s.coverage,
        "modifications": s.modification_level,
        "level": s.pades_level,
    }


def summarise(name: str, report: ValidationReport) -> dict[str, Any]:
    """One file's result: `{"file", "signatures": [...], "error"?}`."""
    entry: dict[str, Any] = {
        "file": name,
        "signatures": [summarise_signature(s) for s in report.signatures],
    }
    if not report.signatures:
        entry["error"] = "Tệp không có chữ ký / the file has no signature"
    return entry


def _admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Chỉ quản trị viên quản lý kho tin cậy / admins only")


def _view(row: TrustedCertificate) -> TrustedView:
    return TrustedView(row.id, row.subject, row.sha256, row.not_after, row.added_at)


def add_trusted(session: Session, data: bytes, principal: Principal) -> list[TrustedView]:
    """Trust the CA certificates in a PEM or DER file; raises InvalidInputError, ConflictError."""
    _admin(principal)
    try:
        certs = load_certificates(data)
    except ValueError as e:
        raise InvalidInputError(
            "Không đọc được chứng thư số (PEM hoặc DER) / not a PEM or DER certificate",
            details=[{"field": "file", "message": str(e)}],
        ) from e
    added = []
    for cert in certs:
        der = cert.public_bytes(Encoding.DER)
        digest = hashlib.sha256(der).hexdigest()
        if session.scalar(select(TrustedCertificate.id).where(TrustedCertificate.sha256 == digest)):
            raise ConflictError(
                f"Chứng thư {cert.subject.rfc4514_string()} đã có / already trusted"
            )
        if not _is_ca(cert):
            raise InvalidInputError(
                f"{cert.subject.rfc4514_string()} không phải CA / is not a CA certificate",
                details=[{"field": "file", "message": "basicConstraints CA:TRUE required"}],
            )
        row = TrustedCertificate(
            sha256=digest,
            subject=cert.subject.rfc4514_string()[:500],
            der=der,
            not_after=cert.not_valid_after_utc,
            added_by=principal.user_id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session, principal.user_id, "trust_add", "certificate", digest, {"subject": row.subject}
        )
        added.append(_view(row))
    return added


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def list_trusted(session: Session) -> list[TrustedView]:
    """Every trusted CA, by subject."""
    return [
        _view(r)
        for r in session.scalars(select(TrustedCertificate).order_by(TrustedCertificate.subject))
    ]


def remove_trusted(session: Session, cert_id: int, principal: Principal) -> None:
    """Stop trusting a CA; raises NotFoundError."""
    _admin(principal)
    row = session.get(TrustedCertificate, cert_id)
    if row is None:
        raise NotFoundError(f"Không có chứng thư {cert_id} / no trusted certificate {cert_id}")
    session.delete(row)
    audit.record(session, principal.user_id, "trust_remove", "certificate", row.sha256)


def trust_settings(session: Session) -> TrustSettings:
    """Validation settings with the admins' trusted CAs as roots."""
    certs = [
        x509.load_der_x509_certificate(r) for r in session.scalars(select(TrustedCertificate.der))
    ]
    now = datetime.now(UTC)
    return TrustSettings.of(c for c in certs if c.not_valid_after_utc > now)
