"""`lienthong agency …` and `lienthong user …`: a production database from empty to a logged-in
admin with the command line alone, and account management from the server's shell."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
from click.testing import Result
from typer.testing import CliRunner

from api.cli import app
from engine import demo
from tests.cli import fails
from tests.conftest import Api
from tests.nodes import LIENTHONG

TIMEOUT = 120
SECRET = "a-production-secret-of-our-own-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _production_env(db_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env |= {
        "LIENTHONG_DATABASE_URL": db_url,
        "LIENTHONG_DATA_DIR": str(data_dir),
        "LIENTHONG_SECRET_KEY": SECRET,
    }
    return env


def _lienthong(env: dict[str, str], *args: str, stdin: str = "") -> str:
    run = subprocess.run(
        [LIENTHONG, *args], env=env, input=stdin, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return run.stdout


def _wait_for_health(base: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited {server.returncode}: {server.communicate()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not answer /healthz within 60 s")


def test_empty_production_database_reaches_a_logged_in_admin_with_the_cli_alone(
    db_url: str, tmp_path: Path
) -> None:
    env = _production_env(db_url, tmp_path / "data")
    _lienthong(env, "db", "upgrade")
    out = _lienthong(
        env,
        "agency", "add", "--code", "000.00.00.H01", "--name", "UBND tỉnh Thử Nghiệm",
        "--kind", "province_pc",
    )  # fmt: skip
    assert "000.00.00.H01" in out
    _lienthong(
        env,
        "user", "create-admin", "--username", "quantri", "--agency-code", "000.00.00.H01",
        "--clearance", "3", "--password-stdin",
        stdin="mat-khau-quan-tri-2026\n",
    )  # fmt: skip

    port = _free_port()
    server = subprocess.Popen(
        [LIENTHONG, "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_health(base, server)
        r = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "quantri", "password": "mat-khau-quan-tri-2026"},
        )
        assert r.status_code == 200, r.text
        users = httpx.get(
            f"{base}/api/v1/users",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        assert users.status_code == 200
        assert [u["username"] for u in users.json()["items"]] == ["quantri"]
    finally:
        server.terminate()
        server.communicate(timeout=TIMEOUT)


def _invoke(db_url: str, tmp_path: Path, *args: str, stdin: str = "") -> Result:
    env = {
        "LIENTHONG_DATABASE_URL": db_url,
        "LIENTHONG_DATA_DIR": str(tmp_path / "data"),
        "LIENTHONG_DEMO": "1",
    }
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def _login(api: Api, username: str, password: str) -> int:
    r = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code


def test_set_password_from_stdin_or_prompt_ends_sessions(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    session = api.login("chuyenvien")
    r = _invoke(db_url, tmp_path, "user", "set-password", "chuyenvien", "--password-stdin",
                stdin="mat-khau-moi-2026\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert api.client.get("/api/v1/tasks", headers=session).status_code == 401
    assert _login(api, "chuyenvien", "demo") == 401
    assert _login(api, "chuyenvien", "mat-khau-moi-2026") == 200

    r = _invoke(db_url, tmp_path, "user", "set-password", "lanhdao",
                stdin="mat-khau-lanh-dao\nmat-khau-lanh-dao\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _login(api, "lanhdao", "mat-khau-lanh-dao") == 200


def test_short_password_or_unknown_user_is_one_sentence_and_exit_1(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    r = _invoke(db_url, tmp_path, "user", "set-password", "chuyenvien", "--password-stdin",
                stdin="short\n")  # fmt: skip
    fails(r, "8", "password")
    assert _login(api, "chuyenvien", "demo") == 200
    r = _invoke(db_url, tmp_path, "user", "disable", "nobody")
    fails(r, "No user nobody")
    r = _invoke(db_url, tmp_path, "user", "add", "--username", "chuyenvien", "--agency-code",
                demo.COMMUNE1_CODE, "--role", "specialist", "--password-stdin",
                stdin="mat-khau-moi-2026\n")  # fmt: skip
    fails(r, "taken")


def test_disable_stops_a_users_tokens_and_enable_restores_them(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    session = api.login("chuyenvien")
    assert _invoke(db_url, tmp_path, "user", "disable", "chuyenvien").exit_code == 0
    assert api.client.get("/api/v1/tasks", headers=session).status_code == 401
    assert _login(api, "chuyenvien", "demo") == 401
    assert _invoke(db_url, tmp_path, "user", "enable", "chuyenvien").exit_code == 0
    assert api.client.get("/api/v1/tasks", headers=session).status_code == 200
