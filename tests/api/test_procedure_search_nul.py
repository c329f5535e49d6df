"""A NUL character in the procedure search is refused alike on both databases: SQLite's LIKE
stopped at it and listed every procedure, PostgreSQL refused it naming no field."""

from __future__ import annotations

from tests.conftest import Api

URL = "/api/v1/procedures"


def test_search_with_a_nul_character_is_422_naming_q_on_both_databases(api: Api) -> None:
    h = api.login("tiepnhan")
    for q in ("\x00", "khai\x00sinh", "%\x00"):
        r = api.client.get(URL, params={"q": q}, headers=h)
        assert r.status_code == 422, (repr(q), r.text)
        body = r.json()
        assert body["error"] == "invalid_input"
        assert [f["field"] for f in body["fields"]] == ["q"], body
        assert "NUL" in body["detail"] and " / " in body["detail"]
    r = api.client.get(URL, params={"q": "khai sinh"}, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 2
