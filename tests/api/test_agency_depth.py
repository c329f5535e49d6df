"""Agencies form a tree of any depth: a 400-level chain is created, listed and administered
through the API on both databases, and a subtree stays an index lookup however long the paths."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine import demo
from engine.agencies import list_agencies
from engine.auth import principal_for
from engine.users import list_users
from storage.models import Agency, User
from tests.conftest import Api
from tests.engine.test_query_plans import captured_statements, plan_of

AGENCIES = "/api/v1/agencies"
USERS = "/api/v1/users"
DEPTH = 400  # ~270 levels of ids filled the old VARCHAR(1000) path on PostgreSQL


def _chain(api: Api, headers: dict[str, str]) -> list[str]:
    """DEPTH agencies, each under the previous one, below the demo province."""
    parent, codes = demo.PROVINCE_CODE, []
    for level in range(1, DEPTH + 1):
        body = {
            "code": f"D{level}",
            "name": f"Tầng {level}",
            "kind": "other",
            "parent_code": parent,
        }
        r = api.client.post(AGENCIES, json=body, headers=headers)
        assert r.status_code == 201, (level, r.text)
        assert r.json()["depth"] == level
        parent = body["code"]
        codes.append(parent)
    return codes


def test_a_400_level_chain_is_created_listed_and_administered_at_both_ends(api: Api) -> None:
    top = api.login("admin")
    codes = _chain(api, top)
    bottom_code = codes[-1]
    r = api.client.post(
        USERS,
        json={
            "username": "quantri.day",
            "full_name": "Quản trị tầng cuối",
            "agency_code": bottom_code,
            "roles": ["admin"],
            "password": "quantri-day-2026",
        },
        headers=top,
    )
    assert r.status_code == 201, r.text

    for who in (top, api.login("chuyenvien")):
        r = api.client.get(AGENCIES, headers=who)
        assert r.status_code == 200, r.text
        by_code = {a["code"]: a for a in r.json()}
        assert (by_code[bottom_code]["depth"], by_code[bottom_code]["parent_code"]) == (
            DEPTH,
            codes[-2],
        )
    r = api.client.get(USERS, params={"limit": 200}, headers=top)
    assert r.status_code == 200, r.text
    assert "quantri.day" in {u["username"] for u in r.json()["items"]}

    bottom = api.login("quantri.day", "quantri-day-2026")
    r = api.client.get(AGENCIES, headers=bottom)
    assert r.status_code == 200, r.text
    assert bottom_code in {a["code"] for a in r.json()}
    r = api.client.get(USERS, headers=bottom)
    assert r.status_code == 200, r.text
    assert [u["username"] for u in r.json()["items"]] == ["quantri.day"]
    # The bottom admin adds one level more, and nothing above itself.
    below = {"code": "D401", "name": "Tầng 401", "kind": "other", "parent_code": bottom_code}
    r = api.client.post(AGENCIES, json=below, headers=bottom)
    assert r.status_code == 201, r.text
    assert r.json()["depth"] == DEPTH + 1
    above = {**below, "code": "D402", "parent_code": codes[-2]}
    assert api.client.post(AGENCIES, json=above, headers=bottom).status_code == 403


# PostgreSQL only: SQLite's LIKE is case-insensitive and never seeks a BINARY index.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_subtree_of_agencies_seeks_the_path_index_on_postgresql(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        admin = principal_for(s, s.scalars(select(User.id).where(User.username == "admin")).one())
        province = s.scalars(select(Agency).where(Agency.code == demo.PROVINCE_CODE)).one()
        with captured_statements(engine) as seen:
            list_agencies(s, province)
            list_users(s, admin)
    (agencies, *users) = [(q, p) for q, p in seen if "LIKE" in q]
    assert len(users) == 2, seen  # the users' count and their page
    assert "ix_agencies_path" in plan_of(engine, *agencies)
    for statement, params in users:
        plan = plan_of(engine, statement, params)
        assert "Seq Scan on agencies" not in plan, plan
