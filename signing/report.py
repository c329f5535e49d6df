"""Validation reports, in the vocabulary of ETSI EN 319 102-1.

Every value is plain data (str, datetime, bytes, enums), so reports cross process
boundaries (see `signing.sandbox`) and serialise to JSON with `as_dict()`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateInfo",
    "Indication",
    "Revocation",
    "SignatureReport",
    "TimestampReport",
    "ValidationReport",
]


class Indication(enum.StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class Revocation(enum.StrEnum):
    GOOD = "good"  # checked, not revoked
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # needed but not available
    NOT_CHECKED = "not_checked"  # no chain, or the policy does not check


@dataclass(frozen=True)
class CertificateInfo:
    """The facts of a certificate a person reads, plus its DER."""

    subject: str
    common_name: str
    issuer: str
    serial: str  # hex
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str  # fingerprint, hex
    der: bytes = field(repr=False)

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateInfo:
        der = cert.public_bytes(serialization.Encoding.DER)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = cn[0].value if cn else cert.subject.rfc4514_string()
        return cls(
            subject=cert.subject.rfc4514_string(),
            common_name=name if isinstance(name, str) else name.decode(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=hashlib.sha256(der).hexdigest(),
            der=der,
        )

    @classmethod
    def of_der(cls, der: bytes) -> CertificateInfo:
        return cls.of(x509.load_der_x509_certificate(der))


@dataclass(frozen=True)
class TimestampReport:
    """A document timestamp (the B-LTA archive timestamps)."""

    field_name: str
    indication: Indication
    sub_indication: str | None
    time: dt.datetime | None
    tsa: CertificateInfo | None
    intact: bool
    signed_revision: int | None = None  # the revision it covers, as SignatureReport's


@dataclass(frozen=True)
class SignatureReport:
    """One signature: the verdict, who signed, when, what it covers, and its level.

    `sub_indication` uses ETSI EN 319 102-1 names (HASH_FAILURE,
    NO_CERTIFICATE_CHAIN_FOUND, REVOKED, OUT_OF_BOUNDS_NO_POE, …). A document changed
    after signing beyond what the signature permits (e.g. a page added) gives
    INDETERMINATE / SIG_CONSTRAINTS_FAILURE with `modified_after_signing` set.
    """

    field_name: str
    indication: Indication
    sub_indication: str | None
    message: str | None
    signer_name: str | None
    signer: CertificateInfo | None
    chain: tuple[CertificateInfo, ...]  # signer first, trust anchor last, if a path was built
    trusted: bool
    revocation: Revocation
    claimed_time: dt.datetime | None  # what the signer's computer said (/M)
    timestamp_time: dt.datetime | None  # from a valid signature timestamp (B-T and up)
    best_signature_time: dt.datetime | None
    intact: bool  # the signed bytes hash to the signed digest
    valid: bool  # the cryptographic signature checks
    coverage: str  # ENTIRE_FILE, ENTIRE_REVISION, CONTIGUOUS_BLOCK_FROM_START, UNCLEAR
    modification_level: str | None  # NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER
    modified_after_signing: bool  # changes beyond what the signature permits
    certification: bool  # a certification (DocMDP) signature
    pades_level: str | None  # B-B, B-T, B-LT, B-LTA, or None (not PAdES)
    signed_revision: int
    reason: str | None = None
    location: str | None = None
    # The CMS carries a signature timestamp token (whether or not it could be validated).
    has_timestamp_token: bool = False

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED


@dataclass(frozen=True)
class ValidationReport:
    """All signatures and document timestamps of one PDF."""

    signatures: tuple[SignatureReport, ...]
    timestamps: tuple[TimestampReport, ...]
    revisions: int
    validation_time: dt.datetime

    @property
    def indication(self) -> Indication | None:
        """The worst indication over the signatures (None if there is none)."""
        order = [Indication.TOTAL_FAILED, Indication.INDETERMINATE, Indication.TOTAL_PASSED]
        found = {s.indication for s in self.signatures}
        return next((i for i in order if i in found), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes in ISO 8601, certificate DER left out."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "der"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
