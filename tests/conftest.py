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
from click.testing import Result
from fastapi.testclient import TestClient
from minio.commonconfig import ENABLED
from minio.versioningconfig import OFF, SUSPENDED, VersioningConfig
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.app import build_state, build_store, create_app
from api.cli import app
from api.deps import AppState
from api.settings import Settings
from engine.setup import install_shipped
from engine.signing_secrets import forget_loaded_keys
from engine.workdays import forget_calendars
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Base
from storage.objects import ObjectStore
from storage.s3 import S3ObjectStore
from tests.cli import Cli
from tests.pki import TestPki
from tests.s3server import S3Server, S3ServerError, find_weed

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
    forget_calendars()  # the PostgreSQL database is reused: no calendar may outlive a test
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
        r = self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def require_weed() -> None:
    """Skip locally without the SeaweedFS binary; under CI its absence is a failure."""
    try:
        find_weed()
    except S3ServerError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{e}; under CI the S3 tests may not skip", pytrace=False)
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3 server (SeaweedFS) for the session; tests isolate themselves by bucket."""
    require_weed()
    with S3Server.start(tmp_path_factory.mktemp("s3server")) as server:
        yield server


@dataclass(frozen=True)
class S3Buckets:
    server: S3Server
    bucket: str
    archive: str

    def settings(self) -> dict[str, object]:
        """Settings fields pointing lienthong at these buckets."""
        return {
            "object_store": "s3",
            "s3_endpoint": self.server.endpoint,
            "s3_access_key": self.server.access_key,
            "s3_secret_key": self.server.secret_key,
            "s3_secure": False,
            "s3_region": "us-east-1",
            "s3_bucket": self.bucket,
            "s3_archive_bucket": self.archive,
        }

    def store(self, cls: type[S3ObjectStore] = S3ObjectStore) -> S3ObjectStore:
        """Our S3 store (or a subclass of it) on these buckets."""
        return cls(
            self.server.endpoint,
            self.server.access_key,
            self.server.secret_key,
            self.bucket,
            self.archive,
            secure=False,
            region="us-east-1",
        )

    def unversioned(self, status: str = OFF) -> str:
        """A new bucket on the same server whose versioning is `OFF` (never enabled) or
        `SUSPENDED` (enabled, then suspended): what the start-up check must refuse."""
        client = self.server.client()
        name = f"{self.bucket}-{status.lower()}"
        client.make_bucket(name)
        if status == SUSPENDED:
            client.set_bucket_versioning(name, VersioningConfig(ENABLED))
            client.set_bucket_versioning(name, VersioningConfig(SUSPENDED))
        return name


@pytest.fixture
def s3_buckets(s3_server: S3Server) -> S3Buckets:
    """A fresh bucket and a fresh object-lock archive bucket on the session's S3 server."""
    client = s3_server.client()
    name = f"t-{uuid.uuid4().hex[:16]}"
    client.make_bucket(name)
    # Versioning on the main bucket lets the sweeper delete exactly the version it judged stale.
    client.set_bucket_versioning(name, VersioningConfig(ENABLED))
    client.make_bucket(name + "-arch", object_lock=True)
    return S3Buckets(s3_server, name, name + "-arch")


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """Object-store settings: the local directory, then a real S3 server."""
    if request.param == "local":
        return {"object_store": "local"}
    buckets: S3Buckets = request.getfixturevalue("s3_buckets")
    return buckets.settings()


@pytest.fixture
def object_store(store_settings: dict[str, object], tmp_path: Path) -> ObjectStore:
    """An empty object store of each backend."""
    settings = Settings(data_dir=tmp_path / "data", demo=True, **store_settings)  # type: ignore[arg-type]
    return build_store(settings)


@pytest.fixture
def api(db_url: str, tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[Api]:
    """The application over the test database, as `make run` would serve it (demo mode)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, demo=True)
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
        yield Api(client, state)
    state.engine.dispose()


@pytest.fixture
def files_api(
    db_url: str, tmp_path: Path, sessions: sessionmaker[Session], store_settings: dict[str, object]
) -> Iterator[Api]:
    """The application with each object-store backend, on each database."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        demo=True,
        purge_grace_seconds=1,  # the purge tests let an object age longer (`_let_age`)
        **store_settings,  # type: ignore[arg-type]
    )
    state = build_state(settings)
    with TestClient(create_app(state=state), raise_server_exceptions=False) as client:
        yield Api(client, state)
    state.engine.dispose()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    """A fresh RSA test PKI per module (tests/signing parametrizes its own by key kind)."""
    return TestPki.generate("rsa")


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    """Loaded seal keys are cached per process by row id: none may leak across databases."""
    forget_loaded_keys()
    yield
    forget_loaded_keys()


@pytest.fixture
def cli(api: Api, db_url: str, tmp_path: Path) -> Cli:
    """`lienthong ARGS…` in-process, configured like an operator's shell for this database."""
    runner = CliRunner()
    env = {
        "LIENTHONG_DATABASE_URL": db_url,
        "LIENTHONG_DATA_DIR": str(tmp_path / "data"),
        "LIENTHONG_DEMO": "1",
    }

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return run
