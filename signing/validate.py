"""Validate the signatures of a PDF in the spirit of ETSI EN 319 102-1.

Each signature goes through pyHanko's AdES validation with long-term material (the
document security store, Adobe revocation attributes and document timestamps as
proof of existence), after pyHanko's difference analysis of everything appended
after it. Trust roots come from `TrustSettings`; nothing is trusted implicitly.

This parses untrusted input in-process: for uploads use `signing.sandbox`, which runs
it in a separate process under a time and memory limit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import (
    AdESFailure,
    AdESIndeterminate,
    AdESPassed,
    AdESStatus,
    AdESSubIndic,
)
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.validation.ades import (
    AdESBasicValidationResult,
    ades_basic_validation,
    ades_lta_validation,
    ades_with_time_validation,
)
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    SignatureValidationSpec,
    bootstrap_validation_data_handlers,
)
from pyhanko.sign.validation.status import (
    ModificationInfo,
    SignatureCoverageLevel,
    StandardCMSSignatureStatus,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

from signing.aio import run_sync
from signing.documents import PARSE_ERRORS, is_certification, malformed, open_reader, safely
from signing.ltv import (
    check_document_timestamp,
    dss_knowledge,
    pades_level,
    proven_unrevoked_before_expiry,
)
from signing.report import (
    CertificateInfo,
    Indication,
    Revocation,
    SignatureReport,
    TimestampReport,
    ValidationReport,
)
from signing.trust import TrustSettings

__all__ = ["validate_pdf"]

log = logging.getLogger("lienthong.signing")

_INDICATION = {
    AdESStatus.PASSED: Indication.TOTAL_PASSED,
    AdESStatus.FAILED: Indication.TOTAL_FAILED,
    AdESStatus.INDETERMINATE: Indication.INDETERMINATE,
}
_REVOKED = {
    AdESFailure.REVOKED,
    AdESIndeterminate.REVOKED_NO_POE,
    AdESIndeterminate.REVOKED_CA_NO_POE,
}
_PAST_CAN_HELP = {
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    AdESIndeterminate.REVOKED_NO_POE,
    AdESIndeterminate.REVOKED_CA_NO_POE,
    AdESIndeterminate.TRY_LATER,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
}
_UNKNOWN = {
    AdESIndeterminate.TRY_LATER,
    AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,  # revocation data from before the expiry
}
_NO_POE_BEFORE_EXPIRY = (
    "Chứng thư số của người ký đã hết hạn tại thời điểm kiểm tra và không có bằng chứng "
    "chữ ký được tạo khi chứng thư còn hiệu lực và chưa bị thu hồi (cần dấu thời gian và dữ "
    "liệu thu hồi nằm dưới dấu thời gian tài liệu: mức B-LTA) / The signer's certificate had "
    "expired at the validation time and nothing proves the signature was made while it was "
    "valid and unrevoked (that takes a timestamp, and revocation data under a document "
    "timestamp: B-LTA)"
)


def validate_pdf(
    pdf: bytes, trust: TrustSettings, *, at: dt.datetime | None = None
) -> ValidationReport:
    """Validate every signature and document timestamp of `pdf` (at `at`, default now).

    Raises MalformedPdfError for input that is not a readable, unencrypted PDF; a
    damaged signature inside a readable PDF is reported, not raised.
    """
    reader = open_reader(pdf)
    now = at or dt.datetime.now(dt.UTC)
    timing = ValidationTimingInfo(
        validation_time=now, best_signature_time=now, point_in_time_validation=at is not None
    )
    try:
        regular = list(reader.embedded_regular_signatures)
        stamps = list(reader.embedded_timestamp_signatures)
        revisions = reader.xrefs.total_revisions
    except PARSE_ERRORS as e:
        raise malformed(e) from e
    timestamps = tuple(check_document_timestamp(ts, trust, reader, now) for ts in stamps)
    signatures = tuple(_check_signature(s, trust, timing, reader, timestamps) for s in regular)
    return ValidationReport(signatures, timestamps, revisions, now)


def _check_signature(
    sig: EmbeddedPdfSignature,
    trust: TrustSettings,
    timing: ValidationTimingInfo,
    reader: PdfFileReader,
    timestamps: tuple[TimestampReport, ...],
) -> SignatureReport:
    try:
        sig.compute_integrity_info(diff_policy=DEFAULT_DIFF_POLICY)
        result = run_sync(_ades(sig, trust, timing, reader))
    except PARSE_ERRORS as e:
        return _broken(sig, e)
    status: StandardCMSSignatureStatus | None = result.api_status
    if status is None:
        return _broken(sig, ValueError(result.failure_msg or "no status"))
    subindic: AdESSubIndic = result.ades_subindic
    indication = _INDICATION[subindic.status]
    sub = None if indication is Indication.TOTAL_PASSED else subindic.standard_name
    message = result.failure_msg
    if message is None and subindic is AdESIndeterminate.OUT_OF_BOUNDS_NO_POE:
        message = _NO_POE_BEFORE_EXPIRY
    integrity = ModificationInfo(**sig.summarise_integrity_info())
    coverage = integrity.coverage or SignatureCoverageLevel.UNCLEAR
    modified = integrity.docmdp_ok is False
    if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        indication, sub = Indication.TOTAL_FAILED, "FORMAT_FAILURE"
        message = "The signature does not cover a whole revision of the document"
    elif indication is Indication.TOTAL_PASSED and modified:
        indication, sub = Indication.INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"
        message = "The document was changed after signing beyond what the signature permits"
    revocation = _revocation(status, subindic, trust, sig)
    if message is None and revocation is Revocation.UNKNOWN:
        message = (
            "The revocation status of the signing certificate is unknown: no usable CRL or "
            "OCSP response; allow fetching, or sign at B-LT to embed them"
        )
    ts = status.timestamp_validity
    ts_time = ts.timestamp if ts is not None and ts.intact and ts.valid and ts.trusted else None
    signer = _cert_info(sig)
    return SignatureReport(
        field_name=sig.field_name,
        indication=indication,
        sub_indication=sub,
        message=message,
        signer_name=signer.common_name if signer else None,
        signer=signer,
        chain=_chain(status),
        trusted=bool(status.trusted),
        revocation=revocation,
        claimed_time=safely(lambda: sig.self_reported_timestamp) or status.signer_reported_dt,
        timestamp_time=ts_time,
        best_signature_time=getattr(result, "best_signature_time", None),
        intact=bool(status.intact),
        valid=bool(status.valid),
        coverage=coverage.name,
        modification_level=_level_name(integrity),
        modified_after_signing=modified,
        certification=is_certification(sig),
        pades_level=pades_level(sig, status, ts_time, reader, timestamps),
        signed_revision=sig.signed_revision,
        reason=_text(sig.sig_object.get("/Reason")),
        location=_text(sig.sig_object.get("/Location")),
        has_timestamp_token=bool(safely(lambda: _has_timestamp_token(sig))),
    )


def _has_timestamp_token(sig: EmbeddedPdfSignature) -> bool:
    attrs = sig.signer_info["unsigned_attrs"]
    if not attrs.native:
        return False
    return any(a["type"].native == "signature_time_stamp_token" for a in attrs)


async def _ades(
    sig: EmbeddedPdfSignature,
    trust: TrustSettings,
    timing: ValidationTimingInfo,
    reader: PdfFileReader,
) -> AdESBasicValidationResult:
    """Validation at the current time (ETSI EN 319 102-1 § 5.3, or § 5.5 with a timestamp), with the document's
    own certificates and revocation data; past-time validation (§ 5.6, using document
    timestamps as proof of existence) only when that could improve an INDETERMINATE.

    pyHanko's `ades_lta_validation` also runs the past-time step for signatures that
    already passed, and then turns a fresh, valid B-B signature into NO_POE.
    """
    backend = AIOHttpFetcherBackend() if trust.fetch else None
    try:
        spec = trust.validation_spec(backend)
        return await _ades_with(sig, spec, timing, reader, trust.revocation)
    finally:
        if backend is not None:
            await backend.close()


async def _ades_with(
    sig: EmbeddedPdfSignature,
    spec: PdfSignatureValidationSpec,
    timing: ValidationTimingInfo,
    reader: PdfFileReader,
    revocation: str,
) -> AdESBasicValidationResult:
    base = spec.signature_validation_spec
    dss = dss_knowledge(reader)
    own = base.local_knowledge
    knowledge = LocalKnowledge(
        known_ocsps=own.known_ocsps + dss.known_ocsps,
        known_crls=own.known_crls + dss.known_crls,
        known_certs=own.known_certs + dss.known_certs,
    )
    augmented = dataclasses.replace(base, local_knowledge=knowledge)
    timestamped = any(True for _ in extract_tst_data_iter(sig.signer_info, signed=False))
    # pyHanko's "with time" process insists on a signature timestamp; B-B gets § 5.3.
    process = ades_with_time_validation if timestamped else ades_basic_validation
    current = await process(
        sig.signed_data,
        augmented,
        timing_info=timing,
        validation_data_handlers=bootstrap_validation_data_handlers(augmented, timing_info=timing),
        raw_digest=sig.compute_digest(),
    )
    cert = sig.signer_cert
    expired = cert is not None and timing.validation_time > cert.not_valid_after
    if current.ades_subindic is AdESPassed.OK and expired:
        checks_revocation = revocation == "if_declared" and _declares_revocation(sig)
        return await _expired_signer(sig, spec, augmented, timing, current, checks_revocation)
    if current.ades_subindic not in _PAST_CAN_HELP or not timestamped:
        return current  # without a signature timestamp no proof of existence can help
    past = await ades_lta_validation(sig, spec, timing_info=timing)
    return past if past.ades_subindic is AdESPassed.OK else current


async def _expired_signer(
    sig: EmbeddedPdfSignature,
    spec: PdfSignatureValidationSpec,
    augmented: SignatureValidationSpec,
    timing: ValidationTimingInfo,
    current: AdESBasicValidationResult,
    checks_revocation: bool,
) -> AdESBasicValidationResult:
    """The rest of ETSI EN 319 102-1 § 5.5.4 / § 5.6.3 for a signature that pyHanko's
    "with time" process passed although its signer certificate had expired.

    pyHanko accepts any signature timestamp later than the certificate's notBefore. The
    standard also wants the timestamp before the notAfter and, where revocation is
    checked, proof the certificate was unrevoked then: a CA may drop an expired
    certificate from its CRL, so only revocation data with proof of existence before
    the expiry (the DSS under a document timestamp, B-LTA) shows it (§ 5.6.2.4).
    """
    best = getattr(current, "best_signature_time", None)
    verdict: AdESSubIndic = AdESIndeterminate.OUT_OF_BOUNDS_NO_POE
    if best is not None and best <= sig.signer_cert.not_valid_after:
        if not checks_revocation:
            return current
        try:
            verdict = await proven_unrevoked_before_expiry(sig, spec, augmented, timing, best)
        except Exception:  # noqa: BLE001 - pyHanko internals: nothing proven, said as such
            log.warning("past signature validation failed", exc_info=True)
            verdict = AdESIndeterminate.OUT_OF_BOUNDS_NO_POE
        if verdict is AdESPassed.OK:
            return current
    if verdict.status is AdESStatus.FAILED:
        return dataclasses.replace(
            current,
            ades_subindic=verdict,
            failure_msg=(
                "Kiểm tra tại thời điểm ký trước khi chứng thư hết hạn thất bại "
                f"({verdict.standard_name}) / validation as of before the certificate "
                f"expired failed ({verdict.standard_name})"
            ),
        )
    # § 5.6.3: past validation did not improve the "with time" result, so that stands
    return dataclasses.replace(
        current,
        ades_subindic=AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        failure_msg=_NO_POE_BEFORE_EXPIRY,
    )


def _level_name(info: ModificationInfo) -> str | None:
    level = info.modification_level
    return level.name if level is not None else None


def _broken(sig: EmbeddedPdfSignature, e: BaseException) -> SignatureReport:
    """A signature whose structure (byte range, CMS) cannot even be processed."""
    try:
        signer: CertificateInfo | None = _cert_info(sig)
    except PARSE_ERRORS:
        signer = None
    return SignatureReport(
        field_name=safely(lambda: sig.field_name) or "?",
        indication=Indication.TOTAL_FAILED,
        sub_indication="FORMAT_FAILURE",
        message=f"The signature cannot be processed: {e}",
        signer_name=signer.common_name if signer else None,
        signer=signer,
        chain=(),
        trusted=False,
        revocation=Revocation.NOT_CHECKED,
        claimed_time=safely(lambda: sig.self_reported_timestamp),
        timestamp_time=None,
        best_signature_time=None,
        intact=False,
        valid=False,
        coverage=SignatureCoverageLevel.UNCLEAR.name,
        modification_level=None,
        modified_after_signing=False,
        certification=False,
        pades_level=None,
        signed_revision=safely(lambda: sig.signed_revision) or -1,
    )


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _cert_info(sig: EmbeddedPdfSignature) -> CertificateInfo | None:
    cert = sig.signer_cert
    return CertificateInfo.of_der(cert.dump()) if cert is not None else None


def _chain(status: StandardCMSSignatureStatus) -> tuple[CertificateInfo, ...]:
    path = status.validation_path
    if path is None:
        return ()
    certs = list(path.iter_certs(include_root=True))
    return tuple(CertificateInfo.of_der(c.dump()) for c in reversed(certs))


def _declares_revocation(sig: EmbeddedPdfSignature) -> bool:
    cert = x509.load_der_x509_certificate(sig.signer_cert.dump())
    oids = {e.oid for e in cert.extensions}
    return bool(
        oids
        & {
            x509.ExtensionOID.CRL_DISTRIBUTION_POINTS,
            x509.ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        }
    )


def _revocation(
    status: StandardCMSSignatureStatus,
    subindic: AdESSubIndic,
    trust: TrustSettings,
    sig: EmbeddedPdfSignature,
) -> Revocation:
    if status.revocation_details is not None or subindic in _REVOKED:
        return Revocation.REVOKED
    if trust.revocation == "none" or not _declares_revocation(sig):
        return Revocation.NOT_CHECKED
    if subindic in _UNKNOWN:
        return Revocation.UNKNOWN
    if status.validation_path is not None and not status.trusted:
        # a chain to a trusted root exists, yet it was not accepted: no usable CRL/OCSP
        return Revocation.UNKNOWN
    return Revocation.GOOD if status.trusted else Revocation.NOT_CHECKED
