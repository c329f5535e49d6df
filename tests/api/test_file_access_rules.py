"""A file attached to a dossier or a document follows it: who reads the case reads its files,
and only the agency holding a file deletes it or adds a version. Versions more secret than
the reader's clearance are not listed; a chain gets one new version at a time."""

from __future__ import annotations

import threading
from typing import Any

from tests.api.test_documents_api import DEPARTMENT, _do, _incoming, _upload
from tests.api.test_dossiers_api import _receive
from tests.conftest import Api

FILES = "/api/v1/files"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _attach(api: Api, user: str, code: str, content: bytes = PDF) -> dict[str, Any]:
    r = api.client.post(
        f"/api/v1/dossiers/{code}/files",
        files={"file": ("cccd.pdf", content, "application/pdf")},
        headers=api.login(user),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _version(api: Api, user: str, previous: str, content: bytes, **form: object) -> Any:
    return api.client.post(
        FILES,
        files={"file": ("ban-moi.pdf", content, "application/pdf")},
        data={"previous_id": previous, **{k: str(v) for k, v in form.items()}},
        headers=api.login(user),
    )


def _listed(api: Api, user: str, code: str) -> list[tuple[str, int]]:
    r = api.client.get(f"/api/v1/dossiers/{code}/files", headers=api.login(user))
    assert r.status_code == 200, r.text
    return [(f["root_id"], f["version"]) for f in r.json()]


def test_province_staff_who_may_not_read_a_dossier_do_not_reach_its_files(api: Api) -> None:
    code = _receive(api)["code"]
    scan = _attach(api, "tiepnhan", code)
    url = f"{FILES}/{scan['id']}"
    for user in (
        "luutru",
        "thietke",
    ):  # province level, not supervising: the applicant is not theirs
        h = api.login(user)
        for path in ("", "/versions", "/link"):
            got = api.client.get(url + path, headers=h)
            assert got.status_code == 403, (user, path, got.text)
            assert b"%PDF" not in got.content
        assert _version(api, user, scan["id"], PDF + b"%x\n").status_code == 403
        deleted = api.client.request("DELETE", url, json={"reason": "x"}, headers=h)
        assert deleted.status_code == 403
    # The commune's scan is still the one the dossier lists, and still readable.
    assert _listed(api, "chuyenvien", code) == [(scan["root_id"], 1)]
    assert api.client.get(url, headers=api.login("chuyenvien")).content == PDF


def test_a_supervising_leader_reads_a_commune_dossier_file_and_the_competent_agency_edits(
    api: Api,
) -> None:
    code = _receive(api)["code"]
    scan = _attach(api, "tiepnhan", code)
    # The province's administrator supervises: reads, and (an ancestor) may act on it.
    assert api.client.get(f"{FILES}/{scan['id']}", headers=api.login("admin")).content == PDF
    r = _version(api, "chuyenvien", scan["id"], PDF + b"%v2\n")
    assert r.status_code == 201, r.text


def test_a_unit_a_document_is_shared_with_reads_its_file_but_does_not_delete_it(
    api: Api,
) -> None:
    file_id = _upload(api, "vanthu", PDF)
    doc = _incoming(api, files=[{"file_id": file_id, "role": "main"}])
    _do(
        api,
        "lanhdao",
        "direct",
        doc["id"],
        {"opinion": "Sở phối hợp", "coordinating_agencies": [DEPARTMENT]},
    )
    other = api.login("chuyenvien.so")  # the coordinating department
    assert api.client.get(f"{FILES}/{file_id}", headers=other).status_code == 200
    r = api.client.request("DELETE", f"{FILES}/{file_id}", json={"reason": "x"}, headers=other)
    assert r.status_code == 403 and r.json()["error"] == "file_not_yours", r.text
    assert _version(api, "chuyenvien.so", file_id, PDF + b"%x\n").status_code == 403
    assert api.client.get(f"{FILES}/{file_id}", headers=api.login("vanthu")).status_code == 200


def test_a_secret_version_is_not_listed_to_those_without_clearance(api: Api) -> None:
    code = _receive(api)["code"]
    scan = _attach(api, "tiepnhan", code)
    r = _version(api, "lanhdao", scan["id"], PDF + b"%mat\n", secrecy=1)
    assert r.status_code == 201, r.text
    secret = r.json()
    h = api.login("tiepnhan")  # no clearance
    assert api.client.get(f"{FILES}/{secret['id']}", headers=h).status_code == 403
    versions = api.client.get(f"{FILES}/{scan['id']}/versions", headers=h).json()
    assert [v["version"] for v in versions] == [1]
    assert secret["sha256"] not in str(versions)
    # The dossier lists the version the reader may open; the cleared leader sees v2.
    assert _listed(api, "tiepnhan", code) == [(scan["root_id"], 1)]
    assert _listed(api, "lanhdao", code) == [(scan["root_id"], 2)]


def test_a_dossier_file_whose_newest_version_was_deleted_is_listed_at_the_one_before(
    api: Api,
) -> None:
    code = _receive(api)["code"]
    scan = _attach(api, "tiepnhan", code)
    v2 = _version(api, "tiepnhan", scan["id"], PDF + b"%v2\n").json()
    h = api.login("tiepnhan")
    assert (
        api.client.request(
            "DELETE", f"{FILES}/{v2['id']}", json={"reason": "nhầm"}, headers=h
        ).status_code
        == 200
    )
    assert _listed(api, "tiepnhan", code) == [(scan["root_id"], 1)]
    # The listed version takes the next one; its number follows the deleted one's.
    r = _version(api, "tiepnhan", scan["id"], PDF + b"%v3\n")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 3
    assert _listed(api, "tiepnhan", code) == [(scan["root_id"], 3)]
    again = _version(api, "tiepnhan", v2["id"], PDF + b"%v4\n")
    assert again.status_code == 409  # the deleted one stays deleted


def test_a_version_is_added_to_the_latest_one_only_and_one_at_a_time(api: Api) -> None:
    code = _receive(api)["code"]
    scan = _attach(api, "tiepnhan", code)
    assert _version(api, "tiepnhan", scan["id"], PDF + b"%v2\n").status_code == 201
    stale = _version(api, "tiepnhan", scan["id"], PDF + b"%v2b\n")
    assert stale.status_code == 409 and stale.json()["error"] == "not_latest_version"
    latest = api.client.get(f"{FILES}/{scan['id']}/versions", headers=api.login("tiepnhan"))
    v2 = latest.json()[-1]["id"]

    answers: list[int] = []
    start = threading.Barrier(4)

    def add(n: int) -> None:
        start.wait()
        answers.append(_version(api, "tiepnhan", v2, PDF + f"%v3-{n}\n".encode()).status_code)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201, 409, 409, 409], answers
    versions = api.client.get(f"{FILES}/{scan['id']}/versions", headers=api.login("tiepnhan"))
    assert [v["version"] for v in versions.json()] == [1, 2, 3]


def test_an_overlong_previous_id_is_refused_without_being_echoed(api: Api) -> None:
    long_id = "7" * 100_000
    r = _version(api, "tiepnhan", long_id, PDF)
    assert r.status_code == 422, r.text[:300]
    assert len(r.content) < 2_000
    got = api.client.get(f"{FILES}/{'8' * 5_000}", headers=api.login("tiepnhan"))
    assert got.status_code == 404 and len(got.content) < 1_000
