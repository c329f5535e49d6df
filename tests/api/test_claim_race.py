"""Two officials claiming one task at the same moment: exactly one gets it."""

from __future__ import annotations

import threading

from tests.conftest import Api

FAR = "2099-01-01T00:00:00+07:00"
PASSWORD = "Kiem-tra-2026-an-toan!"


def _claim_at_once(api: Api, tid: int, users: dict[str, dict[str, str]]) -> dict[str, int]:
    barrier = threading.Barrier(len(users))
    codes: dict[str, int] = {}

    def claim(name: str) -> None:
        barrier.wait()
        codes[name] = api.client.post(f"/api/v1/tasks/{tid}/claim", headers=users[name]).status_code

    threads = [threading.Thread(target=claim, args=(name,)) for name in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return codes


def test_two_receptionists_claiming_one_task_at_once_one_wins_the_other_gets_409(
    api: Api,
) -> None:
    r = api.client.post(
        "/api/v1/users",
        json={
            "username": "tiepnhan2",
            "full_name": "Tiếp Nhận Hai",
            "agency_code": "000.01.20.H99",
            "roles": ["reception"],
            "password": PASSWORD,
        },
        headers=api.login("admin"),
    )
    assert r.status_code == 201, r.text
    users = {"tiepnhan": api.login("tiepnhan"), "tiepnhan2": api.login("tiepnhan2", PASSWORD)}
    for trial in range(10):  # the race was lost in about half the trials on PostgreSQL
        inst = api.client.post(
            "/api/v1/instances",
            json={"process_id": "one_stop_standard", "data": {"due_at": FAR}},
            headers=users["tiepnhan"],
        ).json()
        tid = inst["ready_tasks"][0]["id"]
        codes = _claim_at_once(api, tid, users)
        assert sorted(codes.values()) == [200, 409], (trial, codes)
        winner = next(name for name, code in codes.items() if code == 200)
        got = api.client.get(f"/api/v1/tasks/{tid}", headers=users[winner]).json()
        assert got["assignee"] == winner, (trial, codes, got["assignee"])
