"""Configured signing keys over HTTP: agency seals, officials' own keys, signing stored files.

Each test runs on SQLite and PostgreSQL (`db_url`). Passwords and PINs are write-only:
they must show up in no response and no log line.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update

from engine.signing_secrets import forget_loaded_keys
from storage.models import AuditEvent, SigningKey
from tests.conftest import Api
from tests.pki import PASSWORD, TestPki
from tests.signing.conftest import TokenKey, require_tool, softhsm_module, softhsm_token
from tests.signing.images import seal_png, signature_png
from tests.signing.pdfs import make_pdf, pdfsig

TOKEN_LABEL, TOKEN_PIN, SO_PIN = "lienthong-api", "246810", "135791"
COMMUNE1 = "000.01.20.H99"  # lanhdao (leader) and vanthu (clerk) work there


def _p12(pki: TestPki, who: str = "official", password: str = PASSWORD) -> bytes:
    return pki.pkcs12(getattr(pki, who), password)


def _register_seal(api: Api, pki: TestPki, **extra: str) -> dict:
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": COMMUNE1, "password": PASSWORD, "label": "Dấu UBND xã", **extra},
        files={
            "file": ("seal.p12", _p12(pki, "seal"), "application/x-pkcs12"),
            "image": ("seal.png", seal_png(), "image/png"),
        },
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _register_own(api: Api, pki: TestPki, user: str = "lanhdao") -> dict:
    r = api.client.post(
        "/api/v1/me/signing-key",
        data={"password": PASSWORD},
        files={
            "file": ("me.p12", _p12(pki), "application/x-pkcs12"),
            "image": ("chu-ky.png", signature_png(), "image/png"),
        },
        headers=api.login(user),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _upload(api: Api, headers: dict[str, str], pdf: bytes, name: str = "qd.pdf") -> dict:
    r = api.client.post(
        "/api/v1/files", files={"file": (name, pdf, "application/pdf")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _sign(api: Api, headers: dict[str, str], file_id: str, **body: str) -> dict:
    r = api.client.post(
        "/api/v1/signatures/sign", json={"file_id": file_id, **body}, headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _bytes(api: Api, headers: dict[str, str], file_id: str) -> bytes:
    r = api.client.get(f"/api/v1/files/{file_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.content


def _trust_root(api: Api, pki: TestPki) -> None:
    r = api.client.post(
        "/api/v1/admin/trust",
        files={"file": ("root.pem", pki.root.pem, "application/x-pem-file")},
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text


def _verify(api: Api, headers: dict[str, str], pdf: bytes) -> list[dict]:
    r = api.client.post(
        "/api/v1/signatures/verify",
        files={"file": ("signed.pdf", pdf, "application/pdf")},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["signatures"])


def test_official_signs_then_clerk_seals_two_signatures_signer_first(
    api: Api, pki: TestPki, tmp_path: Path
) -> None:
    seal_key = _register_seal(api, pki)
    assert seal_key["owner"] == "agency" and seal_key["agency_code"] == COMMUNE1
    assert "Ủy ban nhân dân tỉnh Hà Nam" in seal_key["subject"] and seal_key["image_file_id"]
    own = _register_own(api, pki)
    leader, clerk = api.login("lanhdao"), api.login("vanthu")
    assert api.client.get("/api/v1/me/signing-key", headers=leader).json()["id"] == own["id"]

    original = make_pdf(2, "Quyet dinh so 12/QD-UBND")
    v1 = _upload(api, leader, original)
    v2 = _sign(
        api, leader, v1["id"], key="own", appearance="signer", reason="Phê duyệt",
        location="Hòa Bình",
    )  # fmt: skip
    assert (v2["previous_id"], v2["root_id"], v2["version"]) == (v1["id"], v1["id"], 2)
    v3 = _sign(api, clerk, v2["id"], key="agency", appearance="seal")
    assert (v3["previous_id"], v3["version"]) == (v2["id"], 3)

    signed = _bytes(api, clerk, v3["id"])
    assert signed.startswith(_bytes(api, clerk, v2["id"]))  # incremental: v2 kept as is
    assert _bytes(api, leader, v1["id"]) == original  # the old version is unchanged
    versions = api.client.get(f"/api/v1/files/{v1['id']}/versions", headers=leader).json()
    assert [v["version"] for v in versions] == [1, 2, 3]

    _trust_root(api, pki)
    sigs = _verify(api, clerk, signed)
    assert [s["signer"] for s in sigs] == ["Nguyễn Văn Ánh", "Ủy ban nhân dân tỉnh Hà Nam"]
    assert all(s["indication"] == "TOTAL_PASSED" and s["intact"] for s in sigs), sigs
    require_tool("pdfsig")
    path = tmp_path / "v3.pdf"
    path.write_bytes(signed)
    poppler = pdfsig(str(path))
    assert poppler.valid == [True, True], poppler.output


def test_text_stamp_with_the_agency_key_and_the_audit_trail(api: Api, pki: TestPki) -> None:
    _register_seal(api, pki)
    clerk = api.login("vanthu")
    v1 = _upload(api, clerk, make_pdf())
    v2 = _sign(api, clerk, v1["id"], key="agency", appearance="text", text="Số: 12/QĐ-UBND")
    _trust_root(api, pki)
    (sig,) = _verify(api, clerk, _bytes(api, clerk, v2["id"]))
    assert sig["indication"] == "TOTAL_PASSED" and sig["signer"] == "Ủy ban nhân dân tỉnh Hà Nam"
    with api.state.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("sign%"))).all()
        trail = {e.action: (e.object_id, e.details) for e in events}
    assert set(trail) == {"signing_key_register", "sign"}
    assert trail["sign"][0] == v2["id"] and trail["sign"][1]["previous_id"] == v1["id"]
    assert PASSWORD not in str(trail)


def _keys(value: object) -> set[str]:
    """Every key of every object in a JSON document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = dict(r.json())
    if code:
        assert body["error"] == code, body
    return body


def test_refusals_are_clear_answers(api: Api, pki: TestPki) -> None:
    leader, clerk, admin = api.login("lanhdao"), api.login("vanthu"), api.login("admin")
    p12 = {"file": ("k.p12", _p12(pki), "application/x-pkcs12")}
    # a wrong password: 422 (not 401: the login is fine), Vietnamese and English
    wrong = _error(
        api.client.post(
            "/api/v1/me/signing-key", data={"password": "sai"}, files=p12, headers=leader
        ),
        422,
        "wrong_key_password",
    )
    assert "Sai mật khẩu" in wrong["detail"] and "Wrong password" in wrong["detail"]
    junk = {"file": ("k.p12", b"not a key", "application/x-pkcs12")}
    _error(api.client.post("/api/v1/me/signing-key", data={"password": "x"}, files=junk, headers=leader), 422, "bad_key")  # fmt: skip
    expired = pki.issue("Hết Hạn", start=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=30)
    old = {"file": ("old.p12", pki.pkcs12(expired), "application/x-pkcs12")}
    _error(
        api.client.post("/api/v1/me/signing-key", data={"password": PASSWORD}, files=old, headers=leader),
        422, "certificate_not_valid_now",
    )  # fmt: skip
    # only admins set an agency's seal key, or list keys
    seal = {
        "file": ("seal.p12", _p12(pki, "seal"), "application/x-pkcs12"),
        "image": ("seal.png", seal_png(), "image/png"),
    }
    form = {"agency_code": COMMUNE1, "password": PASSWORD}
    _error(api.client.post("/api/v1/admin/signing-keys", data=form, files=seal, headers=clerk), 403)
    _error(api.client.get("/api/v1/admin/signing-keys", headers=clerk), 403)
    # a seal image must be red, a signature blue
    blue_seal = {**seal, "image": ("seal.png", signature_png(), "image/png")}
    _error(
        api.client.post("/api/v1/admin/signing-keys", data=form, files=blue_seal, headers=admin),
        422, "bad_image_colour",
    )  # fmt: skip
    # no key yet
    pdf = _upload(api, leader, make_pdf())
    _error(api.client.get("/api/v1/me/signing-key", headers=leader), 404, "no_signing_key")
    sign = "/api/v1/signatures/sign"
    _error(
        api.client.post(sign, json={"file_id": pdf["id"]}, headers=leader), 409, "no_signing_key"
    )
    _register_own(api, pki)
    _register_seal(api, pki)
    # the seal key is for the agency's clerks; a seal needs a signer's image to overlap
    _error(api.client.post(sign, json={"file_id": pdf["id"], "key": "agency"}, headers=leader), 403)
    _error(
        api.client.post(sign, json={"file_id": pdf["id"], "key": "agency", "appearance": "seal"}, headers=clerk),
        422, "no_signature_image",
    )  # fmt: skip
    _error(
        api.client.post(sign, json={"file_id": pdf["id"], "appearance": "seal"}, headers=leader),
        422,
    )
    # not a PDF; someone else's file; no TSA for B-T; unknown fields
    text = api.client.post(
        "/api/v1/files", files={"file": ("a.txt", b"plain text\n", "text/plain")}, headers=leader
    ).json()
    _error(api.client.post(sign, json={"file_id": text["id"]}, headers=leader), 422, "not_a_pdf")
    other = _upload(api, api.login("chuyenvien.so"), make_pdf())
    _error(api.client.post(sign, json={"file_id": other["id"]}, headers=leader), 403)
    _error(
        api.client.post(sign, json={"file_id": pdf["id"], "level": "B-T"}, headers=leader),
        409, "tsa_not_configured",
    )  # fmt: skip
    _error(api.client.post(sign, json={"file_id": pdf["id"], "pin": "1"}, headers=leader), 422)
    # an older version cannot be signed again (that would fork the chain)
    _sign(api, leader, pdf["id"])
    _error(
        api.client.post(sign, json={"file_id": pdf["id"]}, headers=leader),
        409,
        "not_latest_version",
    )


def test_revoked_or_expired_keys_are_not_used(api: Api, pki: TestPki) -> None:
    seal = _register_seal(api, pki)
    admin, clerk = api.login("admin"), api.login("vanthu")
    pdf = _upload(api, clerk, make_pdf())
    listed = api.client.get(f"/api/v1/admin/signing-keys?agency_code={COMMUNE1}", headers=admin)
    assert [k["id"] for k in listed.json()] == [seal["id"]]
    # a second registration replaces the first
    again = _register_seal(api, pki)
    everything = api.client.get(
        "/api/v1/admin/signing-keys?include_revoked=true", headers=admin
    ).json()
    assert {k["id"]: k["revoked_at"] is not None for k in everything} == {
        seal["id"]: True,
        again["id"]: False,
    }
    with api.state.sessions.begin() as s:
        s.execute(
            update(SigningKey)
            .where(SigningKey.id == again["id"])
            .values(not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    body = {"file_id": pdf["id"], "key": "agency"}
    _error(api.client.post("/api/v1/signatures/sign", json=body, headers=clerk), 409, "certificate_expired")  # fmt: skip
    assert api.client.delete(f"/api/v1/admin/signing-keys/{again['id']}", headers=admin).status_code == 204  # fmt: skip
    _error(api.client.delete(f"/api/v1/admin/signing-keys/{again['id']}", headers=admin), 404)
    _error(api.client.post("/api/v1/signatures/sign", json=body, headers=clerk), 409, "no_signing_key")  # fmt: skip


def test_secrets_appear_in_no_response_no_log_and_not_in_clear_in_the_database(
    api: Api, pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Mật-khẩu-RẤT-bí-mật-9f3a"
    p12 = _p12(pki, "seal", secret)
    admin, clerk = api.login("admin"), api.login("vanthu")
    caplog.set_level(logging.DEBUG)
    answers = [
        api.client.post(
            "/api/v1/admin/signing-keys",
            data={"agency_code": COMMUNE1, "password": secret + "x"},
            files={"file": ("seal.p12", p12, "application/x-pkcs12")},
            headers=admin,
        ),
        api.client.post(
            "/api/v1/admin/signing-keys",
            data={"agency_code": COMMUNE1, "password": secret},
            files={"file": ("seal.p12", p12, "application/x-pkcs12")},
            headers=admin,
        ),
        api.client.post(
            "/api/v1/admin/signing-keys",
            json={
                "agency_code": COMMUNE1,
                "module_path": "/tmp/evil.so",
                "token_label": "t",
                "key_label": "k",
                "pin": secret,
            },
            headers=admin,
        ),  # fmt: skip
        api.client.post(
            "/api/v1/admin/signing-keys",
            json={"agency_code": COMMUNE1, "module_path": "x", "pin": secret, "bogus": secret},
            headers=admin,
        ),
        api.client.get("/api/v1/admin/signing-keys?include_revoked=true", headers=admin),
    ]
    assert [r.status_code for r in answers] == [422, 201, 422, 422, 200]
    pdf = _upload(api, clerk, make_pdf())
    answers.append(api.client.post("/api/v1/signatures/sign", json={"file_id": pdf["id"], "key": "agency"}, headers=clerk))  # fmt: skip
    assert answers[-1].status_code == 201, answers[-1].text
    for r in answers:
        assert secret not in r.text, r.text
        assert not _keys(r.json()) & {"password", "pin", "pkcs12_enc", "password_enc", "pin_enc"}
    logged = caplog.text + "".join(str(rec.args) for rec in caplog.records)
    assert secret not in logged and "signing key" in logged
    with api.state.sessions() as s:
        row = s.scalars(select(SigningKey).where(SigningKey.revoked_at.is_(None))).one()
        assert row.pkcs12_enc and p12 not in row.pkcs12_enc and p12[100:200] not in row.pkcs12_enc
        assert row.password_enc and secret.encode() not in row.password_enc


# --- PKCS#11: a SoftHSM2 token of its own, for this module only --------------------------------


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    key_label: str


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> Iterator[Token]:
    """An RSA key generated on a SoftHSM2 token, its certificate from the test PKI.

    SoftHSM reads SOFTHSM2_CONF when the module initialises, and python-pkcs11 initialises a
    module once per process: unload it before and after (every session is closed at the end
    of each test, `_fresh_key_cache`) so that tests elsewhere with tokens of their own work
    in either order.
    """
    module = softhsm_module()
    home = tmp_path_factory.mktemp("softhsm-api")
    key = TokenKey("11", "dau", pki, "Văn thư UBND xã Hoà Bình (token)")
    forget_loaded_keys()
    pkcs11.unload(module)
    with pytest.MonkeyPatch.context() as mp:
        softhsm_token(mp, home, key, label=TOKEN_LABEL, pin=TOKEN_PIN, so_pin=SO_PIN, module=module)
        yield Token(module, TOKEN_LABEL, TOKEN_PIN, "dau")
        forget_loaded_keys()
        pkcs11.unload(module)


def test_pkcs11_token_key_as_json_signs_and_its_pin_stays_secret(
    api: Api, pki: TestPki, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    admin, clerk = api.login("admin"), api.login("vanthu")
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pki.chain()).decode()
    body = {
        "agency_code": COMMUNE1,
        "module_path": token.module,
        "token_label": token.label,
        "key_label": token.key_label,
        "chain_pem": chain,
        "image_png_base64": base64.b64encode(seal_png()).decode(),
    }
    caplog.set_level(logging.DEBUG)
    wrong = api.client.post(
        "/api/v1/admin/signing-keys", json={**body, "pin": "000000"}, headers=admin
    )
    _error(wrong, 422, "wrong_token_pin")
    r = api.client.post(
        "/api/v1/admin/signing-keys", json={**body, "pin": token.pin}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "pkcs11" and r.json()["token_label"] == token.label
    v1 = _upload(api, clerk, make_pdf())
    v2 = _sign(api, clerk, v1["id"], key="agency", appearance="text", text="Số: 7/UBND-VP")
    forget_loaded_keys()  # as after a restart: decrypt the PIN, log in to the token again
    v3 = _sign(api, clerk, v2["id"], key="agency")
    _trust_root(api, pki)
    sigs = _verify(api, clerk, _bytes(api, clerk, v3["id"]))
    assert [s["signer"] for s in sigs] == ["Văn thư UBND xã Hoà Bình (token)"] * 2
    assert all(s["indication"] == "TOTAL_PASSED" for s in sigs), sigs
    for answer in (wrong, r):
        assert token.pin not in answer.text and "000000" not in answer.text
    assert token.pin not in caplog.text + "".join(str(rec.args) for rec in caplog.records)
