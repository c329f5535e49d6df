"""Signing with a key generated on a PKCS#11 token (SoftHSM2), never leaving it.

Under CI these tests must run: a missing softhsm2-util or pkcs11-tool fails them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509

from signing.errors import TokenError, WrongPasswordError
from signing.keys import open_pkcs11
from signing.pades import PadesLevel, PadesSigner
from signing.report import Indication
from signing.validate import validate_pdf
from tests.pki import PkiServer, TestPki
from tests.signing.conftest import SoftHsmToken, TokenKey, softhsm_token, trust_of
from tests.signing.pdfs import make_pdf

LABEL, PIN, SO_PIN = "lienthong-test", "123456", "654321"


@pytest.fixture(scope="session")
def token(
    tmp_path_factory: pytest.TempPathFactory, pki_rsa: TestPki, pki_ec: TestPki
) -> Iterator[SoftHsmToken]:
    """A SoftHSM2 token in a temporary directory with an RSA and an EC key made on it."""
    rsa = TokenKey("01", "ky-so-rsa", pki_rsa, "Phạm Thị Token (ky-so-rsa)")
    ec = TokenKey("02", "ky-so-ec", pki_ec, "Phạm Thị Token (ky-so-ec)", "EC:prime256v1")
    home = tmp_path_factory.mktemp("softhsm")
    with pytest.MonkeyPatch.context() as mp:
        # SoftHSM reads it when the module initialises: once per process, so per session
        yield softhsm_token(mp, home, rsa, ec, label=LABEL, pin=PIN, so_pin=SO_PIN)


@pytest.mark.parametrize(("label", "kind"), [("ky-so-rsa", "rsa"), ("ky-so-ec", "ecdsa")])
def test_token_key_signs_b_b_and_b_t_that_validate(
    token: SoftHsmToken, pki_server: PkiServer, label: str, kind: str
) -> None:
    pki = pki_server.pkis[kind]
    with open_pkcs11(
        token.module, token_label=token.label, key_label=label, pin=token.pin, chain=pki.chain()
    ) as key:
        assert key.source == "pkcs11"
        assert key.subject_name == f"Phạm Thị Token ({label})"
        assert isinstance(key.certificate, x509.Certificate)
        for level in (PadesLevel.B_B, PadesLevel.B_T):
            signer = PadesSigner(key, level, tsa_url=pki_server.tsa_url(kind))
            for n in range(2):  # the second one goes through the cached CMS
                signed = signer.sign(make_pdf(text=f"token {n}"))
                (sig,) = validate_pdf(signed, trust_of(pki)).signatures
                assert sig.indication is Indication.TOTAL_PASSED, sig
                assert sig.pades_level == str(level)
                assert sig.signer_name == key.subject_name


def test_wrong_pin_is_refused(token: SoftHsmToken) -> None:
    with pytest.raises(WrongPasswordError) as e:
        open_pkcs11(token.module, token_label=token.label, key_label="ky-so-rsa", pin="000000")
    assert e.value.code == "wrong_token_pin"


def test_unknown_key_or_token_is_a_token_error(token: SoftHsmToken) -> None:
    with pytest.raises(TokenError) as e:
        open_pkcs11(token.module, token_label=token.label, key_label="khong-co", pin=token.pin)
    assert e.value.code == "token_key_not_found"
    with pytest.raises(TokenError):
        open_pkcs11(token.module, token_label="no-such-token", key_label="ky-so-rsa", pin=token.pin)
