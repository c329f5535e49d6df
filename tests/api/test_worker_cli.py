"""`lienthong worker` checks the database as `serve` does: on an unmigrated one it refuses
with one sentence naming `lienthong db upgrade`, instead of tracebacks and exit 0."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from storage.db import make_engine
from tests.conftest import _pg_base_url
from tests.nodes import LIENTHONG, Run

TIMEOUT = 120


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings of a database nothing was ever migrated in: a new data dir, a new PG database."""
    env = {"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_DEMO": "1"}
    if request.param == "sqlite":
        yield env
        return
    base = _pg_base_url()
    if not base:
        pytest.skip("LIENTHONG_TEST_DATABASE_URL not set")
    name = f"lienthong_empty_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield env | {"LIENTHONG_DATABASE_URL": url}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _lienthong(cwd: Path, env: dict[str, str], *args: str) -> Run:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")} | env
    r = subprocess.run(
        [LIENTHONG, *args], env=clean, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )
    return Run(args, r.returncode, r.stdout, r.stderr)


def test_worker_on_an_unmigrated_database_says_to_run_db_upgrade(
    empty_database: dict[str, str], tmp_path: Path
) -> None:
    run = _lienthong(tmp_path, empty_database, "worker", "--once")
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.text and "fired" not in run.text
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.error_text.startswith("error: ") and " / " in run.error_text
    assert "lienthong db upgrade" in run.error_text
    # Once migrated, the same command does its round.
    assert _lienthong(tmp_path, empty_database, "db", "upgrade").returncode == 0
    run = _lienthong(tmp_path, empty_database, "worker", "--once")
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert "fired 0 timer(s)" in run.stdout
