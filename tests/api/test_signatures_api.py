"""Signature validation over HTTP against the admins' trust store."""

from __future__ import annotations

import pytest

from signing.keys import load_pkcs12
from signing.pades import PadesSigner, SignatureDetails
from tests.conftest import Api
from tests.pki import PASSWORD, TestPki
from tests.signing.pdfs import make_pdf


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.generate("rsa")


@pytest.fixture(scope="module")
def signed_pdf(pki: TestPki) -> bytes:
    with load_pkcs12(pki.pkcs12(pki.official), PASSWORD) as key:
        return PadesSigner(key).sign(make_pdf(), SignatureDetails(reason="Phê duyệt"))


def _verify(api: Api, pdf: bytes) -> dict:
    r = api.client.post(
        "/api/v1/signatures/verify",
        files={"file": ("qd.pdf", pdf, "application/pdf")},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_signature_passes_once_the_admin_trusts_the_root(
    api: Api, pki: TestPki, signed_pdf: bytes
) -> None:
    before = _verify(api, signed_pdf)
    assert before["signatures"][0]["indication"] == "INDETERMINATE"
    admin = api.login("admin")
    r = api.client.post(
        "/api/v1/admin/trust",
        files={"file": ("root.pem", pki.root.pem, "application/x-pem-file")},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    cert_id = r.json()[0]["id"]
    after = _verify(api, signed_pdf)
    assert (
        after["signatures"][0]["indication"] == "TOTAL_PASSED" and after["signatures"][0]["trusted"]
    )
    assert api.client.delete(f"/api/v1/admin/trust/{cert_id}", headers=admin).status_code == 204
    assert _verify(api, signed_pdf)["signatures"][0]["indication"] == "INDETERMINATE"


def test_trust_store_refuses_non_admins_non_cas_duplicates_and_junk(api: Api, pki: TestPki) -> None:
    admin = api.login("admin")
    upload = {"file": ("root.pem", pki.root.pem, "application/x-pem-file")}
    assert (
        api.client.post(
            "/api/v1/admin/trust", files=upload, headers=api.login("vanthu")
        ).status_code
        == 403
    )
    assert api.client.post("/api/v1/admin/trust", files=upload, headers=admin).status_code == 201
    assert api.client.post("/api/v1/admin/trust", files=upload, headers=admin).status_code == 409
    leaf = {"file": ("official.pem", pki.official.pem, "application/x-pem-file")}
    assert api.client.post("/api/v1/admin/trust", files=leaf, headers=admin).status_code == 422
    junk = {"file": ("x.pem", b"not a certificate", "application/x-pem-file")}
    assert api.client.post("/api/v1/admin/trust", files=junk, headers=admin).status_code == 422


def test_unreadable_or_unsigned_pdf_is_a_clear_answer(api: Api) -> None:
    r = api.client.post(
        "/api/v1/signatures/verify",
        files={"file": ("x.pdf", b"garbage", "application/pdf")},
        headers=api.login("vanthu"),
    )
    assert r.status_code == 422 and r.json()["detail"]
    unsigned = _verify(api, make_pdf())
    assert unsigned["signatures"] == [] and unsigned["error"]
