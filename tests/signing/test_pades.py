from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from signing.errors import SigningError, TimestampError
from signing.pades import (
    PadesLevel,
    PadesSigner,
    SignatureDetails,
    renew_archive_timestamp,
    timestamper_for,
    upgrade_to_lta,
)
from signing.report import Indication, Revocation
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from tests.pki import PkiServer, TestPki
from tests.signing.conftest import key_of, require_tool, trust_of
from tests.signing.pdfs import append_page, flip_signed_byte, make_pdf, pdfsig

NOW_SLACK = dt.timedelta(minutes=5)


def _sign(pki: TestPki, server: PkiServer, level: PadesLevel, **details: object) -> bytes:
    signer = PadesSigner(
        key_of(pki, pki.official), level, tsa_url=server.tsa_url(pki_name(pki)), trust=trust_of(pki)
    )
    return signer.sign(make_pdf(), SignatureDetails(**details))  # type: ignore[arg-type]


def pki_name(pki: TestPki) -> str:
    return pki.kind


@pytest.mark.parametrize("level", [PadesLevel.B_B, PadesLevel.B_T])
def test_signature_passes_with_test_root_trusted(
    pki: TestPki, pki_server: PkiServer, level: PadesLevel
) -> None:
    signed = _sign(pki, pki_server, level, reason="Phê duyệt", location="Hà Nam")
    report = validate_pdf(signed, trust_of(pki))
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig
    assert sig.sub_indication is None
    assert sig.pades_level == str(level)
    assert sig.signer_name == "Nguyễn Văn Ánh"
    assert sig.signer is not None and sig.signer.der == pki.official.der
    assert [c.common_name for c in sig.chain][-1] == f"Lienthong Test Root CA ({pki.kind})"
    assert len(sig.chain) == 3
    assert sig.trusted and sig.intact and sig.valid
    assert sig.revocation is Revocation.GOOD
    assert sig.coverage == "ENTIRE_FILE"
    assert not sig.modified_after_signing
    assert (sig.reason, sig.location) == ("Phê duyệt", "Hà Nam")
    now = dt.datetime.now(dt.UTC)
    assert sig.claimed_time is not None and abs(sig.claimed_time - now) < NOW_SLACK
    if level is PadesLevel.B_T:
        assert sig.timestamp_time is not None and abs(sig.timestamp_time - now) < NOW_SLACK
    else:
        assert sig.timestamp_time is None
    assert report.indication is Indication.TOTAL_PASSED


def test_a_reused_signer_keeps_making_valid_signatures(
    pki: TestPki, pki_server: PkiServer, nss_db: Path, tmp_path: Path
) -> None:
    """From the second document on, the CMS comes from the cached template."""
    require_tool("pdfsig")
    signer = PadesSigner(
        key_of(pki, pki.official), PadesLevel.B_T, tsa_url=pki_server.tsa_url(pki.kind)
    )
    for n in range(3):
        signed = signer.sign(make_pdf(text=f"Van ban {n}"))
        (sig,) = validate_pdf(signed, trust_of(pki)).signatures
        assert sig.indication is Indication.TOTAL_PASSED and sig.pades_level == "B-T"
    path = tmp_path / "third.pdf"
    path.write_bytes(signed)
    poppler = pdfsig(str(path), nssdir=str(nss_db))
    assert poppler.valid == [True] and poppler.trusted == [True], poppler.output


def test_signature_without_trusted_root_has_no_chain(pki: TestPki, pki_server: PkiServer) -> None:
    signed = _sign(pki, pki_server, PadesLevel.B_T)
    (sig,) = validate_pdf(signed, TrustSettings.of([])).signatures
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert sig.intact and sig.valid and not sig.trusted


@pytest.mark.parametrize("level", [PadesLevel.B_B, PadesLevel.B_T])
def test_poppler_finds_the_signature_valid_and_trusted(
    pki: TestPki, pki_server: PkiServer, nss_db: Path, tmp_path: Path, level: PadesLevel
) -> None:
    require_tool("pdfsig")
    path = tmp_path / "signed.pdf"
    path.write_bytes(_sign(pki, pki_server, level))
    untrusted = pdfsig(str(path))
    assert untrusted.valid == [True], untrusted.output
    assert untrusted.trusted == [False], untrusted.output
    trusted = pdfsig(str(path), nssdir=str(nss_db))
    assert trusted.valid == [True], trusted.output
    assert trusted.trusted == [True], trusted.output
    assert "Total document signed" in trusted.output
    assert "ETSI.CAdES.detached" in trusted.output


@pytest.mark.parametrize("level", list(PadesLevel))
def test_qpdf_finds_no_errors(
    pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path, level: PadesLevel
) -> None:
    require_tool("qpdf")
    path = tmp_path / "signed.pdf"
    path.write_bytes(_sign(pki_rsa, pki_server, level))
    out = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No syntax or stream encoding errors found" in out.stdout


def test_byte_changed_after_signing_is_a_hash_failure(pki: TestPki, pki_server: PkiServer) -> None:
    tampered = flip_signed_byte(_sign(pki, pki_server, PadesLevel.B_B))
    (sig,) = validate_pdf(tampered, trust_of(pki)).signatures
    assert sig.indication is Indication.TOTAL_FAILED
    assert sig.sub_indication == "HASH_FAILURE"
    assert not sig.intact


def test_page_appended_after_signing_is_reported_as_not_covered(
    pki_rsa: TestPki, pki_server: PkiServer
) -> None:
    signed = _sign(pki_rsa, pki_server, PadesLevel.B_B)
    (sig,) = validate_pdf(append_page(signed), trust_of(pki_rsa)).signatures
    assert sig.intact and sig.valid and sig.trusted
    assert sig.coverage == "ENTIRE_REVISION"  # no longer the whole file
    assert sig.modified_after_signing
    assert sig.modification_level == "OTHER"
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "SIG_CONSTRAINTS_FAILURE"


@pytest.mark.parametrize("level", [PadesLevel.B_LT, PadesLevel.B_LTA])
def test_long_term_levels_embed_what_validation_needs_offline(
    pki: TestPki, pki_server: PkiServer, level: PadesLevel
) -> None:
    signed = _sign(pki, pki_server, level)
    assert b"/DSS" in signed
    seen = len(pki_server.requests)
    offline = TrustSettings.of([pki.root.cert], fetch=False)
    report = validate_pdf(signed, offline)
    assert len(pki_server.requests) == seen  # nothing fetched: all of it is in the file
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig
    assert sig.pades_level == str(level)
    assert sig.revocation is Revocation.GOOD
    assert sig.modification_level == "LTA_UPDATES"
    if level is PadesLevel.B_LTA:
        (ts,) = report.timestamps
        assert ts.indication is Indication.TOTAL_PASSED
        assert ts.tsa is not None and ts.tsa.common_name == "Lienthong Test TSA"


def test_archive_timestamp_chain_can_be_renewed(pki: TestPki, pki_server: PkiServer) -> None:
    signed = _sign(pki, pki_server, PadesLevel.B_LTA)
    renewed = renew_archive_timestamp(
        signed, timestamper_for(pki_server.tsa_url(pki.kind)), trust_of(pki)
    )
    assert renewed.startswith(signed)  # an incremental update
    report = validate_pdf(renewed, TrustSettings.of([pki.root.cert], fetch=False))
    assert len(report.timestamps) == 2
    assert all(t.indication is Indication.TOTAL_PASSED for t in report.timestamps)
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED and sig.pades_level == "B-LTA"


def test_b_t_signature_is_upgraded_to_b_lta_and_then_checks_offline(
    pki: TestPki, pki_server: PkiServer
) -> None:
    signed = _sign(pki, pki_server, PadesLevel.B_T)
    upgraded = upgrade_to_lta(signed, timestamper_for(pki_server.tsa_url(pki.kind)), trust_of(pki))
    assert upgraded.startswith(signed)  # incremental updates only: the signature still holds
    seen = len(pki_server.requests)
    report = validate_pdf(upgraded, TrustSettings.of([pki.root.cert], fetch=False))
    assert len(pki_server.requests) == seen
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED, sig
    assert sig.pades_level == "B-LTA" and sig.revocation is Revocation.GOOD
    (ts,) = report.timestamps
    assert ts.indication is Indication.TOTAL_PASSED


def test_upgrading_a_pdf_without_signature_is_refused() -> None:
    with pytest.raises(SigningError) as e:
        upgrade_to_lta(make_pdf(), timestamper_for("http://127.0.0.1:9/tsa"), TrustSettings.of([]))
    assert e.value.code == "no_signature"


def test_b_t_without_embedded_material_cannot_be_checked_offline(
    pki_rsa: TestPki, pki_server: PkiServer
) -> None:
    signed = _sign(pki_rsa, pki_server, PadesLevel.B_T)
    offline = TrustSettings.of([pki_rsa.root.cert], fetch=False)
    (sig,) = validate_pdf(signed, offline).signatures
    assert sig.indication is Indication.INDETERMINATE
    assert sig.revocation is Revocation.UNKNOWN


def test_revoked_signer_is_reported(pki_rsa: TestPki, pki_server: PkiServer) -> None:
    signer = PadesSigner(key_of(pki_rsa, pki_rsa.revoked), PadesLevel.B_B)
    (sig,) = validate_pdf(signer.sign(make_pdf()), trust_of(pki_rsa)).signatures
    assert sig.revocation is Revocation.REVOKED
    assert sig.indication is not Indication.TOTAL_PASSED
    assert sig.sub_indication in ("REVOKED", "REVOKED_NO_POE")


def test_expired_certificate_without_timestamp_is_out_of_bounds(pki_rsa: TestPki) -> None:
    signed = PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(make_pdf())
    later = pki_rsa.official.cert.not_valid_after_utc + dt.timedelta(days=30)
    trust = TrustSettings.of([pki_rsa.root.cert], revocation="none")
    (sig,) = validate_pdf(signed, trust, at=later).signatures
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication == "OUT_OF_BOUNDS_NO_POE"


def test_signer_then_agency_seal_both_validate(pki: TestPki, pki_server: PkiServer) -> None:
    tsa = pki_server.tsa_url(pki.kind)
    first = PadesSigner(key_of(pki, pki.official), PadesLevel.B_T, tsa_url=tsa).sign(
        make_pdf(), SignatureDetails(field_name="ChuKyLanhDao", certify=True)
    )
    both = PadesSigner(key_of(pki, pki.seal), PadesLevel.B_T, tsa_url=tsa).sign(
        first, SignatureDetails(field_name="ChuKyCoQuan")
    )
    report = validate_pdf(both, trust_of(pki))
    leader, agency = report.signatures
    assert (leader.field_name, agency.field_name) == ("ChuKyLanhDao", "ChuKyCoQuan")
    assert leader.certification and not agency.certification
    assert leader.indication is agency.indication is Indication.TOTAL_PASSED
    assert leader.modification_level == "FORM_FILLING" and not leader.modified_after_signing
    assert agency.coverage == "ENTIRE_FILE"
    assert agency.signer_name == "Ủy ban nhân dân tỉnh Hà Nam"


def test_levels_refuse_to_start_without_tsa_or_trust(pki_rsa: TestPki) -> None:
    key = key_of(pki_rsa, pki_rsa.official)
    with pytest.raises(SigningError) as e:
        PadesSigner(key, PadesLevel.B_T)
    assert e.value.code == "tsa_required"
    with pytest.raises(SigningError) as e:
        PadesSigner(key, PadesLevel.B_LT, tsa_url="http://127.0.0.1:9/tsa")
    assert e.value.code == "trust_required"


def test_unreachable_tsa_is_a_timestamp_error(pki_rsa: TestPki, pki_server: PkiServer) -> None:
    signer = PadesSigner(
        key_of(pki_rsa, pki_rsa.official), PadesLevel.B_T, tsa_url=pki_server.tsa_url("rsa")
    )
    pki_server.tsa_down = True
    try:
        with pytest.raises(TimestampError) as e:
            signer.sign(make_pdf())
    finally:
        pki_server.tsa_down = False
    assert e.value.http_status == 502
