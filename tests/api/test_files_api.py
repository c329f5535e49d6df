"""Files through the HTTP API, on each database and each object-store backend."""

from __future__ import annotations

from tests.conftest import Api

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_upload_sniffs_type_sanitises_name_and_download_round_trips(files_api: Api) -> None:
    h = files_api.login("chuyenvien")
    r = files_api.client.post(
        "/api/v1/files",
        files={"file": ("../../etc/Tờ khai khai sinh.pdf", PDF, "image/png")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["media_type"] == "application/pdf"
    assert body["name"] == "Tờ khai khai sinh.pdf"
    assert body["size"] == len(PDF) and body["version"] == 1
    got = files_api.client.get(f"/api/v1/files/{body['id']}", headers=h)
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["etag"] == f'"{body["sha256"]}"'
    assert "filename*=UTF-8''T%E1%BB%9D%20khai" in got.headers["content-disposition"]
    again = files_api.client.get(
        f"/api/v1/files/{body['id']}", headers=h | {"If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304
