"""Two-step signing: the value made elsewhere is embedded and the signature holds."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing.external import finish_external, prepare_external
from signing.report import Indication
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from tests.pki import TestPki
from tests.signing.pdfs import make_pdf


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_value_signed_by_the_device_makes_a_valid_signature(kind: str) -> None:
    pki = TestPki.generate(kind)
    who = pki.official
    prepared = prepare_external(make_pdf(), who.cert, (pki.intermediate.cert,), reason="Duyệt")
    if isinstance(who.key, rsa.RSAPrivateKey):
        value = who.key.sign(prepared.to_sign, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(who.key, ec.EllipticCurvePrivateKey)
        value = who.key.sign(prepared.to_sign, ec.ECDSA(hashes.SHA256()))
    signed = finish_external(prepared, value, who.cert, (pki.intermediate.cert,))
    assert signed[: len(make_pdf())] == make_pdf()  # an incremental update of the original
    (sig,) = validate_pdf(signed, TrustSettings.of([pki.root.cert])).signatures
    assert sig.indication is Indication.TOTAL_PASSED and sig.pades_level == "B-B"
    assert sig.signer_name == "Nguyễn Văn Ánh" and sig.reason == "Duyệt"


def test_a_value_from_another_key_does_not_verify() -> None:
    pki = TestPki.generate("rsa")
    prepared = prepare_external(make_pdf(), pki.official.cert)
    value = pki.seal.key.sign(prepared.to_sign, padding.PKCS1v15(), hashes.SHA256())
    signed = finish_external(prepared, value, pki.official.cert)
    (sig,) = validate_pdf(signed, TrustSettings.of([pki.root.cert])).signatures
    assert sig.indication is Indication.TOTAL_FAILED and not sig.valid
