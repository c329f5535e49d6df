"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test, the app, logins.

PostgreSQL tests read `LIENTHONG_TEST_DATABASE_URL`; `.ci/run` sets it, and under CI a
missing URL is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import build_state, create_app
from api.deps import AppState
from api.settings import Settings
from engine.setup import install_shipped
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Base

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
PG_ENV = "LIENTHONG_TEST_DATABASE_URL"


def _pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url and os.environ.get("CI"):
        raise pytest.UsageError(f"{PG_ENV} must be set in CI: the PostgreSQL tests may not skip")
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped at the end."""
    base = _pg_base_url()
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    name = f"lienthong_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a SQLite file, then the PostgreSQL test database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "lienthong.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory on the test database, demo data and shipped workflows installed."""
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        install_shipped(session, WORKFLOWS, seed_demo=True)
    return factory


@dataclass
class Api:
    client: TestClient
    state: AppState

    def login(self, username: str, password: str = "demo") -> dict[str, str]:
        """Authorization headers for a user (demo password by default)."""
        r = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def api(db_url: str, tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[Api]:
    """The application over the test database, as `make run` would serve it (demo mode)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, demo=True)
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
        yield Api(client, state)
    state.engine.dispose()
