"""Non-boundary reception (Decree 118/2025) of the liaison procedure 3.000722 (over HTTP, demo
users): whichever desk receives, the competent commune appraises and approves the birth, the
police and social insurance near that commune do their steps, and the result comes back to the
desk that received it."""

from __future__ import annotations

from engine.agencies import create_agency
from engine.demo import CENTRE_CODE, COMMUNE1_CODE, COMMUNE2_CODE, DEMO_PASSWORD
from engine.users import create_user
from tests.api.test_dossiers_api import APPLICANT, _do
from tests.conftest import Api

LIAISON = "3.000722"


def _user(api: Api, username: str, agency: str, role: str) -> None:
    """One more official (demo password): the demo has none at commune 2's desk."""
    with api.state.sessions.begin() as s:
        create_user(s, username, f"Cán bộ {username}", agency, [role], DEMO_PASSWORD)


def _receive_for_commune1(api: Api, desk: str) -> str:
    body = {
        "procedure_code": LIAISON,
        "applicant": APPLICANT,
        "channel": "counter",
        "complete": True,
        "competent_agency": COMMUNE1_CODE,
    }
    r = api.client.post("/api/v1/dossiers", json=body, headers=api.login(desk))
    assert r.status_code == 201, r.text
    assert r.json()["competent_agency"] == COMMUNE1_CODE
    code: str = r.json()["code"]
    return code


def _inbox(api: Api, user: str, code: str) -> list[str]:
    """The tasks of dossier `code` in `user`'s inbox."""
    items = api.client.get("/api/v1/tasks?limit=200", headers=api.login(user)).json()["items"]
    return [t["task"] for t in items if t["business_key"] == code]


def _runs_at_commune1_and_returns_to_the_desk(
    api: Api, code: str, desk: str, police: str = "congan"
) -> None:
    _do(api, desk, "receive", code)
    assert _inbox(api, desk, code) == []
    assert _inbox(api, "chuyenvien", code) == ["appraise_birth"]
    _do(api, "chuyenvien", "appraise_birth", code, {"appraisal": "eligible"})
    assert _inbox(api, "lanhdao", code) == ["approve_birth"]
    _do(api, "lanhdao", "approve_birth", code, {"decision": "approve"})
    assert _inbox(api, police, code) == ["register_residence"]
    assert _inbox(api, "bhxh", code) == ["issue_insurance_card"]
    _do(api, police, "register_residence", code, {"residence_registered": True})
    _do(api, "bhxh", "issue_insurance_card", code, {"card_number": "TE1010012345678"})
    assert _inbox(api, "tiepnhan", code) == []  # commune 1's own desk did not receive it
    assert _inbox(api, desk, code) == ["return_result"]
    _do(api, desk, "return_result", code)
    got = api.client.get(f"/api/v1/dossiers/{code}", headers=api.login(desk)).json()
    assert (got["status"], got["status_name"]) == (10, "Đã trả kết quả")
    by = {e["details"].get("task"): e["by"] for e in got["timeline"] if e["kind"] == "handover"}
    assert by == {
        "receive": desk,
        "appraise_birth": "chuyenvien",
        "approve_birth": "lanhdao",
        "register_residence": police,
        "issue_insurance_card": "bhxh",
        "return_result": desk,
    }


def test_service_centre_receives_liaison_for_a_commune_and_returns_the_result(api: Api) -> None:
    code = _receive_for_commune1(api, "tiepnhan.tt")
    assert code.startswith(f"{CENTRE_CODE}-")
    _runs_at_commune1_and_returns_to_the_desk(api, code, "tiepnhan.tt")


def test_another_commune_receives_liaison_for_commune_1_and_returns_the_result(api: Api) -> None:
    _user(api, "tiepnhan.xa2", COMMUNE2_CODE, "reception")
    code = _receive_for_commune1(api, "tiepnhan.xa2")
    assert code.startswith(f"{COMMUNE2_CODE}-")
    _runs_at_commune1_and_returns_to_the_desk(api, code, "tiepnhan.xa2")


def test_residence_goes_to_the_police_of_the_competent_commune_not_of_the_desk(
    api: Api,
) -> None:
    """With a police post in each commune, the child's residence is registered by the post of
    the commune that registers the birth, whichever commune received the dossier."""
    with api.state.sessions.begin() as s:
        create_agency(s, "000.01.21.H99", "Công an xã Hoà Bình", "police", COMMUNE1_CODE)
        create_agency(s, "000.02.21.H99", "Công an phường Đông Hải", "police", COMMUNE2_CODE)
    _user(api, "tiepnhan.xa2", COMMUNE2_CODE, "reception")
    _user(api, "congan.xa1", "000.01.21.H99", "specialist")
    _user(api, "congan.xa2", "000.02.21.H99", "specialist")
    code = _receive_for_commune1(api, "tiepnhan.xa2")
    _runs_at_commune1_and_returns_to_the_desk(api, code, "tiepnhan.xa2", police="congan.xa1")
    assert _inbox(api, "congan.xa2", code) == [] and _inbox(api, "congan", code) == []
