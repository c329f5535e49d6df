from __future__ import annotations

import datetime as dt
import pickle

import pytest

from signing.errors import (
    KeyMaterialError,
    MalformedPdfError,
    SigningError,
    TokenError,
    WrongPasswordError,
)
from signing.keys import load_pkcs12, open_pkcs11
from tests.pki import PASSWORD, TestPki


def test_pkcs12_loads_key_certificate_and_chain(pki: TestPki) -> None:
    key = load_pkcs12(pki.pkcs12(pki.official), PASSWORD)
    assert key.subject_name == "Nguyễn Văn Ánh"
    assert key.certificate == pki.official.cert
    assert set(key.chain) == {pki.intermediate.cert, pki.root.cert}
    assert key.source == "pkcs12"
    assert key.signature_size() < key.signature_size(timestamped=True)


def test_wrong_pkcs12_password_is_a_422_asking_to_retry(pki_rsa: TestPki) -> None:
    with pytest.raises(WrongPasswordError) as e:
        load_pkcs12(pki_rsa.pkcs12(pki_rsa.official), "sai mật khẩu")
    assert e.value.http_status == 422
    assert e.value.code == "wrong_key_password"
    assert "Sai mật khẩu" in e.value.message and "Wrong password" in e.value.message
    assert isinstance(e.value.__cause__, ValueError)


def test_garbage_is_not_a_pkcs12_file() -> None:
    with pytest.raises(KeyMaterialError) as e:
        load_pkcs12(b"not a key file at all", PASSWORD)
    assert not isinstance(e.value, WrongPasswordError)
    assert e.value.code == "bad_key"


def test_expired_certificate_is_refused(pki_rsa: TestPki) -> None:
    old = pki_rsa.issue("Lê Văn Cũ", start=dt.datetime.now(dt.UTC) - dt.timedelta(days=40), days=30)
    with pytest.raises(KeyMaterialError) as e:
        load_pkcs12(pki_rsa.pkcs12(old), PASSWORD)
    assert e.value.code == "certificate_not_valid_now"


def test_missing_pkcs11_module_is_a_token_error() -> None:
    with pytest.raises(TokenError) as e:
        open_pkcs11("/nonexistent/libnothing.so", token_label="x", key_label="k", pin="1234")
    assert e.value.http_status == 503


def test_errors_keep_code_and_details_across_processes() -> None:
    err = MalformedPdfError("hỏng / broken", code="pdf_encrypted", details={"at": 3})
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is MalformedPdfError
    assert (back.message, back.code, back.details, back.http_status) == (
        "hỏng / broken",
        "pdf_encrypted",
        {"at": 3},
        422,
    )
    assert isinstance(back, SigningError)
