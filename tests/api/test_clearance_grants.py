"""An admin never lifts anyone above their own clearance, nor acts as a user cleared above them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import demo
from engine.principal import Clearance
from engine.users import create_user
from tests.conftest import Api

PASSWORD = "mat-khau-xa-2026"


@pytest.fixture
def uncleared_admin(api: Api, sessions: sessionmaker[Session]) -> dict[str, str]:
    """An admin of commune 1 without any clearance; `lanhdao` there holds Mật."""
    with sessions.begin() as s:
        create_user(s, "admin.xa", "Quản trị xã", demo.COMMUNE1_CODE, ["admin"], PASSWORD)
    return api.login("admin.xa", PASSWORD)


def _new_user(clearance: int) -> dict[str, object]:
    return {
        "username": f"mat{clearance}",
        "full_name": "Nguyễn Văn Mật",
        "agency_code": demo.COMMUNE1_CODE,
        "roles": ["specialist"],
        "password": "mat-khau-rieng-2026",
        "clearance": clearance,
    }


def test_admin_cannot_grant_a_clearance_above_their_own(
    api: Api, uncleared_admin: dict[str, str]
) -> None:
    r = api.client.post("/api/v1/users", json=_new_user(3), headers=uncleared_admin)
    assert r.status_code == 403
    assert r.json()["error"] == "clearance_above_own"
    assert "above your own" in r.json()["detail"] and "cao hơn" in r.json()["detail"]
    names = api.client.get("/api/v1/users?limit=200", headers=api.login("admin")).json()
    assert "mat3" not in {u["username"] for u in names["items"]}
    assert (
        api.client.post("/api/v1/users", json=_new_user(0), headers=uncleared_admin).status_code
        == 201
    )
    # The province admin holds Tuyệt mật and may grant it.
    r = api.client.post("/api/v1/users", json=_new_user(3), headers=api.login("admin"))
    assert r.status_code == 201 and r.json()["clearance"] == Clearance.TUYET_MAT.label


def test_admin_cannot_take_a_token_or_password_of_a_user_cleared_above_them(
    api: Api, uncleared_admin: dict[str, str]
) -> None:
    r = api.client.post(
        "/api/v1/auth/api-tokens",
        json={"name": "as-leader", "username": "lanhdao"},
        headers=uncleared_admin,
    )
    assert r.status_code == 403 and r.json()["error"] == "clearance_above_own"
    r = api.client.post(
        "/api/v1/users/lanhdao/password",
        json={"new_password": "chiem-quyen-2026"},
        headers=uncleared_admin,
    )
    assert r.status_code == 403
    r = api.client.post(
        "/api/v1/auth/api-tokens",
        json={"name": "as-specialist", "username": "chuyenvien"},
        headers=uncleared_admin,
    )
    assert r.status_code == 201
