"""Passwords are taken exactly as typed everywhere; changing one's own ends one's other sessions."""

from __future__ import annotations

from engine import demo
from tests.conftest import Api

SPACED = "  pw with spaces  "


def _login_status(api: Api, username: str, password: str) -> int:
    r = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


def _new_user(api: Api, username: str, password: str) -> dict:
    r = api.client.post(
        "/api/v1/users",
        json={
            "username": username,
            "full_name": "Nguyễn Văn Cách",
            "agency_code": demo.COMMUNE1_CODE,
            "roles": ["specialist"],
            "password": password,
        },
        headers=api.login("admin"),
    )
    answer: dict = r.json()
    answer["status"] = r.status_code
    return answer


def test_user_created_by_an_admin_logs_in_with_the_password_exactly_as_given(api: Api) -> None:
    assert _new_user(api, "khoang.trang", SPACED)["status"] == 201
    assert _login_status(api, "khoang.trang", SPACED) == 200
    assert _login_status(api, "khoang.trang", SPACED.strip()) == 401


def test_a_blank_password_is_refused_like_everywhere_else(api: Api) -> None:
    answer = _new_user(api, "trang.tron", " " * 12)
    assert answer["status"] == 422 and answer["error"] == "weak_password", answer
    assert answer["fields"][0]["field"] == "password" and " / " in answer["detail"]
    assert _new_user(api, "ngan.qua", " short ")["status"] == 422  # 7 characters


def test_changing_my_password_ends_my_other_sessions_and_api_tokens_but_not_this_one(
    api: Api,
) -> None:
    here, elsewhere = api.login("chuyenvien"), api.login("chuyenvien")
    r = api.client.post("/api/v1/auth/api-tokens", json={"name": "may-quet"}, headers=here)
    assert r.status_code == 201, r.text
    machine = {"Authorization": f"Bearer {r.json()['access_token']}"}
    someone_else = api.login("lanhdao")

    r = api.client.post(
        "/api/v1/auth/password",
        json={"old_password": "demo", "new_password": SPACED},
        headers=here,
    )
    assert r.status_code == 204, r.text
    r = api.client.get("/api/v1/tasks", headers=elsewhere)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # A token made from a session by whoever knew the old password ends with it.
    r = api.client.get("/api/v1/tasks", headers=machine)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    for still in (here, someone_else):
        assert api.client.get("/api/v1/tasks", headers=still).status_code == 200
    assert _login_status(api, "chuyenvien", SPACED) == 200


def test_changing_my_password_with_an_api_token_ends_all_my_sessions(api: Api) -> None:
    session = api.login("chuyenvien")
    r = api.client.post("/api/v1/auth/api-tokens", json={"name": "script"}, headers=session)
    machine = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = api.client.post(
        "/api/v1/auth/password",
        json={"old_password": "demo", "new_password": "mat-khau-moi-2026"},
        headers=machine,
    )
    assert r.status_code == 204, r.text
    assert api.client.get("/api/v1/tasks", headers=session).status_code == 401
    assert api.client.get("/api/v1/tasks", headers=machine).status_code == 200


def test_an_admin_reset_ends_every_session_and_api_token_of_that_user(
    api: Api,
) -> None:
    sessions = [api.login("chuyenvien"), api.login("chuyenvien")]
    r = api.client.post("/api/v1/auth/api-tokens", json={"name": "bot"}, headers=sessions[0])
    machine = {"Authorization": f"Bearer {r.json()['access_token']}"}
    admin = api.login("admin")
    r = api.client.post(
        "/api/v1/users/chuyenvien/password", json={"new_password": SPACED}, headers=admin
    )
    assert r.status_code == 204, r.text
    for ended in (*sessions, machine):
        assert api.client.get("/api/v1/tasks", headers=ended).status_code == 401
    assert api.client.get("/api/v1/tasks", headers=admin).status_code == 200
    assert _login_status(api, "chuyenvien", SPACED) == 200
