"""Two-step signing with a device the server never holds, across a server restart."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient

from api.app import build_state, create_app
from api.settings import Settings
from tests.conftest import Api
from tests.pki import TestPki
from tests.signing.pdfs import make_pdf


def _pem(pki: TestPki, who: str = "official") -> str:
    return "".join(
        c.public_bytes(serialization.Encoding.PEM).decode()
        for c in (getattr(pki, who).cert, pki.intermediate.cert)
    )


def _upload(api: Api, user: str, content: bytes, name: str = "qd.pdf") -> str:
    r = api.client.post(
        "/api/v1/files", files={"file": (name, content, "application/pdf")}, headers=api.login(user)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _device(pki: TestPki, to_sign_b64: str, who: str = "official") -> str:
    key = getattr(pki, who).key
    value = key.sign(base64.b64decode(to_sign_b64), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(value).decode()


def test_a_prepared_signature_is_finished_after_a_restart(
    api: Api, pki: TestPki, db_url: str, tmp_path: Path
) -> None:
    h = api.login("lanhdao")
    file_id = _upload(api, "lanhdao", make_pdf(2))
    r = api.client.post(
        "/api/v1/signatures/external",
        json={"file_id": file_id, "certificate_pem": _pem(pki), "reason": "Phê duyệt"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["state"] == "waiting" and request["digest_algorithm"] == "sha256"

    # A new server process on the same database and data directory: nothing was in memory.
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, demo=True)
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as again:
        login = again.post("/api/v1/auth/token", data={"username": "lanhdao", "password": "demo"})
        h2 = {"Authorization": f"Bearer {login.json()['access_token']}"}
        url = f"/api/v1/signatures/external/{request['id']}"
        assert again.get(url, headers=h2).json()["state"] == "waiting"
        wrong = again.post(
            url, json={"signature_value": _device(pki, request["to_sign"], "seal")}, headers=h2
        )
        assert wrong.status_code == 422 and wrong.json()["error"] == "signature_value_invalid"
        done = again.post(
            url, json={"signature_value": _device(pki, request["to_sign"])}, headers=h2
        )
        assert done.status_code == 201, done.text
        assert done.json()["version"] == 2 and done.json()["previous_id"] == file_id
        assert again.get(url, headers=h2).json()["result_file_id"] == done.json()["id"]
        closed = again.post(url, json={"signature_value": "AAAA"}, headers=h2)
        assert closed.status_code == 409
        signed = again.get(f"/api/v1/files/{done.json()['id']}", headers=h2).content
    state.engine.dispose()
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    assert "Signature is Valid." in out and "Nguyễn Văn Ánh" in out


def test_bad_requests_are_refused_and_others_cannot_see_them(api: Api, pki: TestPki) -> None:
    h = api.login("lanhdao")
    file_id = _upload(api, "lanhdao", make_pdf())
    start = "/api/v1/signatures/external"
    r = api.client.post(start, json={"file_id": file_id, "certificate_pem": "nope"}, headers=h)
    assert r.status_code == 422 and "PEM" in r.json()["detail"]
    expired = pki.issue("Hết Hạn", start=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), days=30)
    old = expired.cert.public_bytes(serialization.Encoding.PEM).decode()
    r = api.client.post(start, json={"file_id": file_id, "certificate_pem": old}, headers=h)
    assert r.status_code == 422 and r.json()["error"] == "certificate_not_valid_now"
    text = _upload(api, "lanhdao", b"just text, not a PDF", "note.txt")
    r = api.client.post(start, json={"file_id": text, "certificate_pem": _pem(pki)}, headers=h)
    assert r.status_code == 422 and r.json()["error"] == "not_a_pdf"
    r = api.client.post(start, json={"file_id": file_id, "certificate_pem": _pem(pki)}, headers=h)
    assert r.status_code == 201
    url = f"{start}/{r.json()['id']}"
    other = api.login("vanthu")
    assert api.client.get(url, headers=other).status_code == 404
    assert api.client.post(url, json={"signature_value": "AAAA"}, headers=other).status_code == 404
    bad = api.client.post(url, json={"signature_value": "***"}, headers=h)
    assert bad.status_code == 422
