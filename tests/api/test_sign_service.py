"""The BPMN service task `sign`: a process seals a file of its case with the agency's key."""

from __future__ import annotations

from sqlalchemy import select

from engine.runtime.definitions import deploy
from engine.runtime.instances import current_data, start_instance
from storage.models import Agency, StoredFile, WorkflowInstance
from tests.bpmn_builder import chain, service_task
from tests.conftest import Api
from tests.pki import PASSWORD, TestPki
from tests.signing.pdfs import make_pdf

COMMUNE = "000.01.20.H99"


def _start(api: Api, data: dict, business_key: str | None = None) -> WorkflowInstance:
    with api.state.sessions.begin() as s:
        bpmn = chain(
            "seal_result",
            [service_task("seal", "sign", {"file_id": "result_file_id", "text": "result_number"})],
        )
        deploy(s, bpmn, "seal.bpmn", {})
        agency = s.scalar(select(Agency).where(Agency.code == COMMUNE))
        assert agency is not None
        loaded = start_instance(
            s, "seal_result", agency_id=agency.id, data=data, business_key=business_key
        )
        return loaded.row


def _seal_key(api: Api, agency: str) -> TestPki:
    """Register a fresh seal key for `agency` (as the admin); its PKI."""
    pki = TestPki.generate("rsa")
    r = api.client.post(
        "/api/v1/admin/signing-keys",
        data={"agency_code": agency, "password": PASSWORD},
        files={"file": ("seal.p12", pki.pkcs12(pki.seal, PASSWORD), "application/x-pkcs12")},
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    return pki


def _dossier_file(api: Api) -> tuple[str, str]:
    from tests.api.test_dossiers_api import _receive

    code = _receive(api)["code"]
    up = api.client.post(
        f"/api/v1/dossiers/{code}/files",
        files={"file": ("ket-qua.pdf", make_pdf(), "application/pdf")},
        headers=api.login("tiepnhan"),
    )
    assert up.status_code == 201, up.text
    return code, str(up.json()["id"])


def test_a_process_seals_the_result_file_with_the_agency_key(api: Api) -> None:
    _seal_key(api, COMMUNE)
    code, file_id = _dossier_file(api)
    # A file of another case is refused: the process seals only its own.
    _, other = _dossier_file(api)
    stray = _start(api, {"result_file_id": other, "result_number": "12"}, code)
    assert stray.status == "incident" and "does not belong" in stray.incident["message"]
    row = _start(api, {"result_file_id": file_id, "result_number": "Số: 12/GKS"}, code)
    assert row.status == "completed", row.incident
    with api.state.sessions.begin() as s:
        from engine.runtime.instances import load_instance

        sealed = current_data(load_instance(s, row.id).workflow)["seal_result"]
        new = s.get(StoredFile, sealed)
        assert new is not None and new.previous_id == file_id and new.version == 2
    pdf = api.client.get(f"/api/v1/files/{sealed}", headers=api.login("vanthu")).content
    assert pdf.count(b"/ByteRange") == 1


def test_the_competent_agency_seals_when_another_desk_received_the_case(api: Api) -> None:
    # Non-boundary reception: the department decides, so its key seals, not the desk's.
    department = "000.00.10.H99"
    pki = _seal_key(api, department)
    code, file_id = _dossier_file(api)
    data = {"result_file_id": file_id, "result_number": "12", "competent_agency": department}
    row = _start(api, data, code)
    assert row.status == "completed", row.incident  # the commune itself has no seal key
    signed = api.client.get(f"/api/v1/files/{file_id}/versions", headers=api.login("vanthu"))
    pdf = api.client.get(
        f"/api/v1/files/{signed.json()[-1]['id']}", headers=api.login("vanthu")
    ).content
    assert pdf.count(b"/ByteRange") == 1
    assert pki.seal.der.hex().encode() in pdf.lower()  # the department's certificate signed


def test_without_a_seal_key_the_step_stops_with_an_incident_naming_it(api: Api) -> None:
    code, file_id = _dossier_file(api)
    row = _start(api, {"result_file_id": file_id, "result_number": "12"}, code)
    assert row.status == "incident"
    assert "seal key" in row.incident["message"]
    # A case without a file to seal goes straight on.
    assert _start(api, {"result_file_id": "", "result_number": ""}).status == "completed"


def test_the_one_stop_result_file_is_sealed_before_it_is_returned(api: Api) -> None:
    from tests.api.test_dossiers_api import _do, _receive

    _seal_key(api, COMMUNE)
    code = _receive(api)["code"]
    _do(api, "tiepnhan", "receive", code)
    _do(api, "lanhdao", "assign", code, {"next_assignee": "chuyenvien"})
    _do(api, "chuyenvien", "appraise", code, {"appraisal": "eligible"})
    _do(api, "lanhdao", "approve", code, {"decision": "approve"})
    result = api.client.post(
        f"/api/v1/dossiers/{code}/files",
        files={"file": ("giay-khai-sinh.pdf", make_pdf(), "application/pdf")},
        headers=api.login("vanthu"),
    )
    assert result.status_code == 201, result.text
    fid = result.json()["id"]
    _do(api, "vanthu", "issue_result", code, {"result_number": "12/GKS", "result_file_id": fid})
    versions = api.client.get(f"/api/v1/files/{fid}/versions", headers=api.login("vanthu")).json()
    assert [v["version"] for v in versions] == [1, 2]
    sealed = api.client.get(f"/api/v1/files/{versions[1]['id']}", headers=api.login("tiepnhan"))
    assert sealed.status_code == 200 and sealed.content.count(b"/ByteRange") == 1
    _do(api, "tiepnhan", "return_result", code)
    assert (
        api.client.get(f"/api/v1/dossiers/{code}", headers=api.login("tiepnhan")).json()["status"]
        == 10
    )
