"""Accounts over HTTP: revoking API tokens, changing and resetting passwords, disabling users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from engine import demo
from engine.principal import Clearance
from engine.users import create_user
from tests.conftest import Api

TOKENS = "/api/v1/auth/api-tokens"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _issue(api: Api, headers: dict[str, str], **body: object) -> tuple[int, dict[str, str]]:
    r = api.client.post(TOKENS, json={"name": "ci-bot", **body}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"], _bearer(r.json()["access_token"])


def _login_status(api: Api, username: str, password: str) -> int:
    r = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


def test_revoked_api_token_is_refused_at_once_and_listed_without_its_secret(api: Api) -> None:
    h = api.login("chuyenvien")
    token_id, machine = _issue(api, h)
    assert api.client.get("/api/v1/tasks", headers=machine).status_code == 200
    listed = api.client.get(TOKENS, headers=h).json()
    assert [t["id"] for t in listed] == [token_id]
    assert listed[0]["revoked_at"] is None and listed[0]["username"] == "chuyenvien"
    assert not {"access_token", "token_hash"} & set(listed[0])

    assert api.client.delete(f"{TOKENS}/{token_id}", headers=h).status_code == 204
    r = api.client.get("/api/v1/tasks", headers=machine)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert api.client.get(TOKENS, headers=h).json()[0]["revoked_at"] is not None


def test_only_the_owner_or_an_admin_in_scope_revokes_a_token(api: Api) -> None:
    token_id, machine = _issue(api, api.login("chuyenvien"))
    r = api.client.delete(f"{TOKENS}/{token_id}", headers=api.login("tiepnhan"))
    assert r.status_code == 404 and "API token" in r.json()["detail"]
    r = api.client.delete(f"{TOKENS}/{token_id}", headers=api.login("chuyenvien.so"))
    assert r.status_code == 404
    assert api.client.get("/api/v1/tasks", headers=machine).status_code == 200

    admin = api.login("admin")
    listed = api.client.get(TOKENS, params={"username": "chuyenvien"}, headers=admin).json()
    assert [t["id"] for t in listed] == [token_id]
    assert api.client.delete(f"{TOKENS}/{token_id}", headers=admin).status_code == 204
    assert api.client.get("/api/v1/tasks", headers=machine).status_code == 401
    assert api.client.delete(f"{TOKENS}/999999", headers=admin).status_code == 404


def test_api_token_without_an_expiry_lasts_a_year_not_for_ever(api: Api) -> None:
    r = api.client.post(TOKENS, json={"name": "ci-bot"}, headers=api.login("admin"))
    assert r.status_code == 201
    expires = datetime.fromisoformat(r.json()["expires_at"])
    expected = datetime.now(UTC) + timedelta(days=365)
    assert abs(expires - expected) < timedelta(minutes=5)
    too_long = api.client.post(
        TOKENS, json={"name": "x", "expires_in_days": 3651}, headers=api.login("admin")
    )
    assert too_long.status_code == 422


def test_user_changes_own_password_with_the_old_one(api: Api) -> None:
    h = api.login("chuyenvien")
    wrong = api.client.post(
        "/api/v1/auth/password",
        json={"old_password": "nope", "new_password": "mat-khau-moi-2026"},
        headers=h,
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    assert "current password is wrong" in wrong.json()["detail"]
    short = api.client.post(
        "/api/v1/auth/password", json={"old_password": "demo", "new_password": "short"}, headers=h
    )
    assert short.status_code == 422
    assert short.json()["fields"][0]["field"] == "new_password"
    ok = api.client.post(
        "/api/v1/auth/password",
        json={"old_password": "demo", "new_password": " mat-khau-moi-2026 "},
        headers=h,
    )
    assert ok.status_code == 204
    assert _login_status(api, "chuyenvien", "demo") == 401
    assert _login_status(api, "chuyenvien", " mat-khau-moi-2026 ") == 200


def test_admin_resets_a_password_and_the_users_sessions_end(api: Api) -> None:
    session = api.login("chuyenvien")
    r = api.client.post(
        "/api/v1/users/chuyenvien/password",
        json={"new_password": "dat-lai-2026-xyz"},
        headers=api.login("admin"),
    )
    assert r.status_code == 204
    assert api.client.get("/api/v1/tasks", headers=session).status_code == 401
    assert _login_status(api, "chuyenvien", "demo") == 401
    assert _login_status(api, "chuyenvien", "dat-lai-2026-xyz") == 200
    r = api.client.post(
        "/api/v1/users/chuyenvien/password", json={"new_password": "x"}, headers=api.login("admin")
    )
    assert r.status_code == 422


def test_disabled_user_loses_sessions_and_tokens_at_once_until_enabled(api: Api) -> None:
    session = api.login("chuyenvien")
    _, machine = _issue(api, session)
    admin = api.login("admin")
    r = api.client.patch("/api/v1/users/chuyenvien", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is False
    for headers in (session, machine):
        r = api.client.get("/api/v1/tasks", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "inactive"
    assert _login_status(api, "chuyenvien", "demo") == 401

    r = api.client.patch("/api/v1/users/chuyenvien", json={"active": True}, headers=admin)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert api.client.get("/api/v1/tasks", headers=machine).status_code == 200
    assert _login_status(api, "chuyenvien", "demo") == 200


def test_admin_cannot_disable_themself_nor_users_outside_their_subtree(
    api: Api, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        create_user(
            s,
            "admin.xa",
            "Quản trị xã",
            demo.COMMUNE1_CODE,
            ["admin"],
            "mat-khau-xa-2026",
            clearance=Clearance.TUYET_MAT,
        )
    commune_admin = api.login("admin.xa", "mat-khau-xa-2026")
    r = api.client.patch("/api/v1/users/admin.xa", json={"active": False}, headers=commune_admin)
    assert r.status_code == 409 and "cannot disable your own account" in r.json()["detail"]
    r = api.client.patch(
        "/api/v1/users/chuyenvien.so", json={"active": False}, headers=commune_admin
    )
    assert r.status_code == 404
    r = api.client.post(
        "/api/v1/users/chuyenvien.so/password",
        json={"new_password": "dat-lai-2026-xyz"},
        headers=commune_admin,
    )
    assert r.status_code == 404
    assert _login_status(api, "chuyenvien.so", "demo") == 200
    r = api.client.patch(
        "/api/v1/users/chuyenvien", json={"active": False}, headers=api.login("chuyenvien")
    )
    assert r.status_code == 403
