"""What the validator says after the signer's certificate expired (ETSI EN 319 102-1).

The archivist validates years later: the official's certificate (30 days here) has
expired, the TSA's (a year) has not, and the CAs publish fresh CRLs at that time
(`clock_offset`; the validator gets them offline, as an archive's trust store would).
Only proof that the signature existed, with the certificate unrevoked, before the expiry
lets it pass: a signature timestamp gives the first, revocation data under a document
timestamp (B-LTA) the second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.pades import PadesLevel, PadesSigner, timestamper_for, upgrade_to_lta
from signing.report import Indication, Revocation
from signing.sandbox import validate_untrusted
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from tests.pki import PkiServer, TestPki, asn1_cert
from tests.signing.conftest import key_of, trust_of
from tests.signing.pdfs import make_pdf


@dataclass(frozen=True)
class Signed:
    pki: TestPki
    b_b: bytes
    b_t: bytes
    b_lta: bytes

    @property
    def expiry(self) -> dt.datetime:
        return self.pki.official.cert.not_valid_after_utc


@pytest.fixture(scope="module")
def signed(pki_server: PkiServer) -> Signed:
    """One document signed at B-B, B-T and (B-T upgraded to) B-LTA while all is valid."""
    pki = pki_server.add("expiring", "rsa", official_days=30, ocsp_nocheck=True)
    tsa = pki_server.tsa_url("expiring")
    key = key_of(pki, pki.official)
    b_t = PadesSigner(key, PadesLevel.B_T, tsa_url=tsa).sign(make_pdf())
    return Signed(
        pki,
        b_b=PadesSigner(key).sign(make_pdf()),
        b_t=b_t,
        b_lta=upgrade_to_lta(b_t, timestamper_for(tsa), trust_of(pki)),
    )


@pytest.fixture
def at_later(signed: Signed) -> Iterator[tuple[dt.datetime, TrustSettings]]:
    """A day after the signer's certificate expired, with the CAs' CRLs of that day."""
    later = signed.expiry + dt.timedelta(days=1)
    assert later < signed.pki.tsa.cert.not_valid_after_utc  # the TSA's still valid
    yield later, _archive_trust(signed.pki, later)
    signed.pki.clock_offset = dt.timedelta(0)


def _archive_trust(pki: TestPki, when: dt.datetime) -> TrustSettings:
    pki.clock_offset = when - dt.datetime.now(dt.UTC)
    der = serialization.Encoding.DER
    crls = (pki.crl().public_bytes(der), pki.crl(pki.root).public_bytes(der))
    return TrustSettings.of([pki.root.cert], crls=crls)


def test_b_lta_passes_after_the_signer_certificate_expired(
    signed: Signed, at_later: tuple[dt.datetime, TrustSettings]
) -> None:
    later, trust = at_later
    report = validate_pdf(signed.b_lta, trust, at=later)
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig.message
    assert sig.pades_level == "B-LTA" and sig.revocation is Revocation.GOOD
    assert sig.best_signature_time is not None and sig.best_signature_time < signed.expiry
    (ts,) = report.timestamps
    assert ts.indication is Indication.TOTAL_PASSED
    assert report.validation_time == later


def test_b_lta_passes_after_expiry_in_the_sandbox_too(
    signed: Signed, at_later: tuple[dt.datetime, TrustSettings]
) -> None:
    later, trust = at_later
    (sig,) = validate_untrusted(signed.b_lta, trust, at=later, timeout=60).signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig.message


def test_b_b_after_expiry_is_out_of_bounds_without_proof_of_existence(
    signed: Signed, at_later: tuple[dt.datetime, TrustSettings]
) -> None:
    later, trust = at_later
    (sig,) = validate_pdf(signed.b_b, trust, at=later).signatures
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "OUT_OF_BOUNDS_NO_POE"
    assert sig.message is not None and "expired" in sig.message  # not "allow fetching"


def test_b_t_after_expiry_is_out_of_bounds_without_revocation_data_from_before(
    signed: Signed, at_later: tuple[dt.datetime, TrustSettings]
) -> None:
    """§ 5.5.4: the signature timestamp proves the signature existed before expiry, but
    not that the certificate was unrevoked then: a CRL of after the expiry need not list
    an expired certificate, and a B-T file carries none from before (§ 5.6.2.4)."""
    later, trust = at_later
    (sig,) = validate_pdf(signed.b_t, trust, at=later).signatures
    assert sig.timestamp_time is not None and sig.timestamp_time < signed.expiry
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "OUT_OF_BOUNDS_NO_POE"
    assert sig.revocation is Revocation.UNKNOWN
    assert sig.message is not None and "B-LTA" in sig.message


def test_b_t_passes_a_day_before_expiry(signed: Signed) -> None:
    before = signed.expiry - dt.timedelta(days=1)
    try:
        trust = _archive_trust(signed.pki, before)
        (sig,) = validate_pdf(signed.b_t, trust, at=before).signatures
    finally:
        signed.pki.clock_offset = dt.timedelta(0)
    assert sig.indication is Indication.TOTAL_PASSED, sig.message


def test_b_t_after_expiry_passes_when_revocation_is_not_checked(
    signed: Signed, at_later: tuple[dt.datetime, TrustSettings]
) -> None:
    """Without revocation checking, the timestamp before the expiry is proof enough."""
    later, _ = at_later
    trust = TrustSettings.of([signed.pki.root.cert], revocation="none")
    (sig,) = validate_pdf(signed.b_t, trust, at=later).signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig.message


def test_a_timestamp_made_after_the_expiry_proves_nothing(
    signed: Signed, pki_server: PkiServer
) -> None:
    """pyHanko's "with time" process only compares the timestamp with the notBefore."""
    now = dt.datetime.now(dt.UTC)
    lapsed = signed.pki.issue("Hoàng Văn Hết Hạn", start=now - dt.timedelta(days=40), days=30)
    # our signer refuses an expired certificate; pyHanko's own does not
    key_der = lapsed.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert(lapsed.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([asn1_cert(signed.pki.intermediate.cert)]),
    )
    out = BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig", subfilter=SigSeedSubFilter.PADES),
        signer,
        timestamper=timestamper_for(pki_server.tsa_url("expiring")),
    ).sign_pdf(IncrementalPdfFileWriter(BytesIO(make_pdf())), output=out)
    pdf = out.getvalue()
    trust = TrustSettings.of([signed.pki.root.cert], revocation="none")
    (sig,) = validate_pdf(pdf, trust).signatures
    assert sig.timestamp_time is not None and sig.timestamp_time > lapsed.cert.not_valid_after_utc
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "OUT_OF_BOUNDS_NO_POE"
