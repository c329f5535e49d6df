"""Long-term validation material: the document security store, document timestamps,
and the PAdES baseline level a signature reaches."""

from __future__ import annotations

import datetime as dt
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate, AdESSubIndic
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import async_validate_pdf_timestamp
from pyhanko.sign.validation.ades import (
    _build_prima_facie_poe_index_from_pdf_timestamps,
    _validate_prima_facie_poe,
    ades_past_signature_validation,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.ltv.poe import POEManager, POEType
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from signing.aio import run_sync
from signing.documents import PARSE_ERRORS, safely
from signing.report import CertificateInfo, Indication, TimestampReport
from signing.trust import TrustSettings

__all__ = [
    "check_document_timestamp",
    "dss_knowledge",
    "pades_level",
    "proven_unrevoked_before_expiry",
]


def dss_knowledge(reader: PdfFileReader) -> LocalKnowledge:
    """Certificates, CRLs and OCSP responses in the document security store."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return LocalKnowledge()
    ocsps = [
        c
        for ref in dss.ocsps
        for c in OCSPContainer.load_multi(
            asn1_ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
        )
    ]
    crls = [
        CRLContainer(asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL)))
        for ref in dss.crls
    ]
    return LocalKnowledge(known_ocsps=ocsps, known_crls=crls, known_certs=list(dss.load_certs()))


async def proven_unrevoked_before_expiry(
    sig: EmbeddedPdfSignature,
    spec: PdfSignatureValidationSpec,
    augmented: SignatureValidationSpec,
    timing: ValidationTimingInfo,
    best_signature_time: dt.datetime,
) -> AdESSubIndic:
    """pyHanko's past signature validation (ETSI EN 319 102-1 § 5.6.2.4) of a signature
    whose signer certificate had expired at the validation time (PASSED or not).

    Proof of existence comes from the document timestamps over the DSS (pyHanko's own
    index; its helpers are private, hence the exact pin of pyHanko), the signature's
    from `best_signature_time`. `augmented` carries the DSS material.
    """
    index = _build_prima_facie_poe_index_from_pdf_timestamps(
        sig.reader, include_content_ts=True, diff_policy=spec.diff_policy
    )
    # What has no other proof exists as of the validation time, not of the wall clock
    # (the two differ when validating "at" another time).
    poes = POEManager(current_dt_override=timing.validation_time)
    try:
        for poe in await _validate_prima_facie_poe(index, augmented, timing):
            poes.register_known_poe(poe)
    except SignatureValidationError:
        pass  # a broken document timestamp chain proves nothing
    poes.register(sig.signer_info["signature"].native, POEType.VALIDATION, best_signature_time)
    return await ades_past_signature_validation(
        sig.signed_data,
        augmented,
        poes,
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        init_control_time=timing.validation_time,
    )


def _has_revinfo(reader: PdfFileReader) -> bool:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return False
    return bool(dss.crls or dss.ocsps)


def pades_level(
    sig: EmbeddedPdfSignature,
    status: StandardCMSSignatureStatus,
    ts_time: dt.datetime | None,
    reader: PdfFileReader,
    timestamps: tuple[TimestampReport, ...],
) -> str | None:
    """The baseline level the signature's structure reaches (None if not PAdES)."""
    if sig.sig_object.get("/SubFilter") != SigSeedSubFilter.PADES.value:
        return None
    if not (status.intact and status.valid):
        return None
    if ts_time is None:
        return "B-B"
    if not _has_revinfo(reader):
        return "B-T"
    later = [t for t in timestamps if t.indication is Indication.TOTAL_PASSED]
    if any(_revision_of(reader, t.field_name) > sig.signed_revision for t in later):
        return "B-LTA"
    return "B-LT"


def _revision_of(reader: PdfFileReader, field_name: str) -> int:
    for ts in reader.embedded_timestamp_signatures:
        if ts.field_name == field_name:
            return int(ts.signed_revision)
    return -1


def check_document_timestamp(
    ts: EmbeddedPdfSignature, trust: TrustSettings, reader: PdfFileReader, now: dt.datetime
) -> TimestampReport:
    """Validate a document timestamp (B-LTA), with the DSS material at hand."""
    try:
        kwargs: dict[str, Any] = {
            "trust_manager": trust.trust_manager(),
            "crls": list(trust.crls),
            "ocsps": list(trust.ocsps),
            "allow_fetching": trust.fetch,
            "moment": now,
        }
        try:
            vc = DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
        except NoDSSFoundError:
            vc = ValidationContext(**kwargs)
        status = run_sync(async_validate_pdf_timestamp(ts, validation_context=vc), vc)
    except PARSE_ERRORS:
        return TimestampReport(
            safely(lambda: ts.field_name) or "?", Indication.TOTAL_FAILED, "FORMAT_FAILURE",
            None, None, False,
        )  # fmt: skip
    if not status.intact or not status.valid:
        indication, sub = (
            Indication.TOTAL_FAILED,
            "HASH_FAILURE" if not status.intact else "SIG_CRYPTO_FAILURE",
        )
    elif not status.trusted:
        indic = status.trust_problem_indic
        indication, sub = (
            Indication.INDETERMINATE,
            indic.standard_name if indic else "NO_CERTIFICATE_CHAIN_FOUND",
        )
    else:
        indication, sub = Indication.TOTAL_PASSED, None
    return TimestampReport(
        ts.field_name, indication, sub, status.timestamp, CertificateInfo.of_der(ts.signer_cert.dump()),
        bool(status.intact), safely(lambda: int(ts.signed_revision)),
    )  # fmt: skip
