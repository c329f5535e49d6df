"""Health check, login, tokens and role checks through the HTTP API."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api.test_bad_input import unreachable_database
from tests.conftest import Api


def test_healthz_ok_when_database_and_store_answer(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_healthz_503_names_the_object_store_when_it_cannot_be_written(api: Api) -> None:
    root = api.state.objects.root  # type: ignore[attr-defined]
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("a file where the store's directory should be")
    r = api.client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert set(body["failing"]) == {"object_store"}


def test_healthz_503_names_the_database_when_it_does_not_answer(api: Api, tmp_path: Path) -> None:
    with unreachable_database(api, tmp_path) as down:
        r = down.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert set(body["failing"]) == {"database"}
    assert "The database does not answer" in body["failing"]["database"]


def test_login_returns_a_bearer_token_that_opens_the_api(api: Api) -> None:
    r = api.client.post("/api/v1/auth/token", data={"username": "admin", "password": "demo"})
    assert r.status_code == 200
    token = r.json()
    assert token["token_type"] == "bearer" and token["expires_at"]
    users = api.client.get(
        "/api/v1/users", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert users.status_code == 200


def test_wrong_password_is_401_with_a_bilingual_message(api: Api) -> None:
    r = api.client.post("/api/v1/auth/token", data={"username": "admin", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_credentials"
    assert "Sai tên đăng nhập" in r.json()["detail"] and "Wrong username" in r.json()["detail"]


def test_no_token_and_bad_token_are_401(api: Api) -> None:
    assert api.client.get("/api/v1/users").status_code == 401
    r = api.client.get("/api/v1/users", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"


def test_users_list_is_for_admins_only(api: Api) -> None:
    r = api.client.get("/api/v1/users", headers=api.login("chuyenvien"))
    assert r.status_code == 403
    assert r.json()["error"] == "role_required"


def test_admin_lists_demo_users_with_roles_and_agency_codes(api: Api) -> None:
    r = api.client.get("/api/v1/users?limit=200", headers=api.login("admin"))
    body = r.json()
    by_name = {u["username"]: u for u in body["items"]}
    for name in (
        "tiepnhan",
        "chuyenvien",
        "lanhdao",
        "vanthu",
        "chuyenvien.so",
        "lanhdao.so",
        "luutru",
        "thietke",
        "admin",
    ):
        assert name in by_name
    assert by_name["tiepnhan"]["roles"] == ["reception"]
    assert by_name["tiepnhan"]["agency_code"] == by_name["chuyenvien"]["agency_code"]
    assert by_name["chuyenvien.so"]["agency_code"] != by_name["chuyenvien"]["agency_code"]
    assert body["total"] == len(body["items"])


def test_users_pagination(api: Api) -> None:
    h = api.login("admin")
    first = api.client.get("/api/v1/users?limit=2&offset=0", headers=h).json()
    second = api.client.get("/api/v1/users?limit=2&offset=2", headers=h).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 2
    assert {u["username"] for u in first["items"]}.isdisjoint(
        {u["username"] for u in second["items"]}
    )
    assert api.client.get("/api/v1/users?limit=0", headers=h).status_code == 422


def test_machine_api_token_is_long_lived_and_works(api: Api) -> None:
    h = api.login("admin")
    r = api.client.post("/api/v1/auth/api-tokens", json={"name": "ci-bot"}, headers=h)
    assert r.status_code == 201
    assert r.json()["expires_at"] is not None  # a year unless asked otherwise
    machine = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert api.client.get("/api/v1/users", headers=machine).status_code == 200


def test_unknown_field_and_wrong_type_are_422_with_field_names(api: Api) -> None:
    h = api.login("admin")
    r = api.client.post("/api/v1/auth/api-tokens", json={"name": "x", "colour": "red"}, headers=h)
    assert r.status_code == 422
    assert any(f["field"] == "colour" for f in r.json()["fields"])
    r = api.client.post(
        "/api/v1/auth/api-tokens", json={"name": "x", "expires_in_days": "soon"}, headers=h
    )
    assert r.status_code == 422
    assert any(f["field"] == "expires_in_days" for f in r.json()["fields"])


def test_malformed_json_is_422_not_500(api: Api) -> None:
    h = api.login("admin") | {"Content-Type": "application/json"}
    r = api.client.post("/api/v1/auth/api-tokens", content=b"{not json", headers=h)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
