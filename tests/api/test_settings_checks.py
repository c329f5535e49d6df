"""Settings a server cannot work with are refused when `lienthong serve` starts: one
sentence naming the variable and exit 1, instead of a server that fails every request."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import build_state, create_app
from api.settings import Settings, SettingsError
from tests.nodes import LIENTHONG, Run

TIMEOUT = 60  # the refusal comes before any server starts


def _serve(tmp_path: Path, **env: str) -> Run:
    """`lienthong serve` in an empty data directory with these LIENTHONG_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    clean |= {"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_PORT": "1"} | env
    r = subprocess.run(
        [LIENTHONG, "serve", "--no-worker"],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Run(("serve",), r.returncode, r.stdout, r.stderr)


def _refused(run: Run, *words: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and "Uvicorn running" not in run.text
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.error_text.startswith("error: ") and " / " in run.error_text
    for word in words:
        assert word in run.error_text, run.error_text


@pytest.mark.parametrize("hours", ["1e9", "8785", "0.001", "0"])
def test_serve_refuses_a_login_lifetime_outside_one_minute_to_one_year(
    tmp_path: Path, hours: str
) -> None:
    run = _serve(tmp_path, LIENTHONG_DEMO="1", LIENTHONG_TOKEN_TTL_HOURS=hours)
    _refused(run, "LIENTHONG_TOKEN_TTL_HOURS", "one year")


@pytest.mark.parametrize("hours", [1 / 60, 366 * 24])
def test_logins_work_at_both_ends_of_the_login_lifetime(
    db_url: str, tmp_path: Path, sessions: sessionmaker[Session], hours: float
) -> None:
    settings: Any = Settings(
        data_dir=tmp_path / "data", database_url=db_url, demo=True, token_ttl_hours=hours
    )
    state = build_state(settings)
    try:
        with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
            r = client.post("/api/v1/auth/token", data={"username": "admin", "password": "demo"})
            assert r.status_code == 200, r.text
            token = {"Authorization": f"Bearer {r.json()['access_token']}"}
            assert client.get("/api/v1/agencies", headers=token).status_code == 200
    finally:
        state.engine.dispose()


@pytest.mark.parametrize(
    ("secret", "demo"),
    [(" " * 20, "0"), ("\t \n" * 8, "0"), ("  short-secret  " + " " * 10, "0"), (" " * 20, "1")],
)
def test_serve_refuses_a_blank_or_short_secret_key_padded_with_spaces(
    tmp_path: Path, secret: str, demo: str
) -> None:
    run = _serve(tmp_path, LIENTHONG_SECRET_KEY=secret, LIENTHONG_DEMO=demo)
    _refused(run, "LIENTHONG_SECRET_KEY", "blank or too short")
    with pytest.raises(SettingsError, match="blank or too short"):
        Settings(secret_key=secret, demo=demo == "1").check()
