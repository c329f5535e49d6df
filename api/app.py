"""The FastAPI application: adapters are built in `lifespan`, never at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import ArgumentError

from api.deps import AppState
from api.errors import install_error_handlers
from api.limits import UploadLimit
from api.routes import (
    auth,
    calendar,
    documents,
    dossiers,
    exchange,
    external_signing,
    files,
    health,
    org,
    procedures,
    signatures,
    signing_keys,
    workflow,
)
from api.routes.signing_keys import signing_config
from api.settings import Settings, SettingsError
from engine import listeners as _listeners  # noqa: F401 - every process runs workflows
from engine.calendar import CalendarError, OfficeHours
from engine.exchange.identity import load_identity
from engine.signing_service import configure_signing
from engine.workdays import configure_office_hours
from storage.db import REQUEST_CONNECTIONS, make_engine, make_sessionmaker
from storage.doorbell import Doorbell
from storage.objects import LocalObjectStore, ObjectStore
from storage.s3 import S3ObjectStore

__all__ = ["build_state", "build_store", "create_app"]


def build_store(settings: Settings, kind: str | None = None) -> ObjectStore:
    """The object store the settings name (`kind` overrides LIENTHONG_OBJECT_STORE)."""
    if (kind or settings.object_store) == "s3":
        if not (settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key):
            raise SettingsError(
                "Cần LIENTHONG_S3_ENDPOINT, LIENTHONG_S3_ACCESS_KEY, LIENTHONG_S3_SECRET_KEY / "
                "set LIENTHONG_S3_ENDPOINT, LIENTHONG_S3_ACCESS_KEY and LIENTHONG_S3_SECRET_KEY"
            )
        return S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_bucket,
            settings.s3_archive_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    return LocalObjectStore(settings.objects_dir)


def build_state(settings: Settings) -> AppState:
    """Connect the adapters the settings describe."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SettingsError(
            f"LIENTHONG_DATA_DIR: không tạo được thư mục {settings.data_dir} / cannot create the "
            f"folder {settings.data_dir} ({e.strerror or type(e).__name__})"
        ) from e
    try:
        configure_office_hours(OfficeHours(tuple(settings.parsed_office_hours())))
    except CalendarError as e:
        raise SettingsError(f"LIENTHONG_OFFICE_HOURS: {e}") from e
    try:
        engine = make_engine(settings.db_url)
    except (ArgumentError, ValueError) as e:
        # Never echo the URL: it may hold a password.
        raise SettingsError(
            "LIENTHONG_DATABASE_URL: không đọc được địa chỉ cơ sở dữ liệu / the database URL "
            f"cannot be read ({type(e).__name__}); expected e.g. "
            "postgresql+psycopg://user:password@host:5432/db"
        ) from None
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine, Doorbell(settings.db_url)),
        objects=build_store(settings),
        node=load_identity(
            settings.node_name,
            settings.exchange_key,
            settings.exchange_key_password,
            settings.data_dir / "exchange" / "node.p12",
        ),
    )
    configure_signing(state.objects, signing_config(state))
    return state


def create_app(settings: Settings | None = None, state: AppState | None = None) -> FastAPI:
    """The application; pass `state` to share adapters (tests, the CLI's serve)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = state is None
        app.state.lienthong = state or build_state(settings or Settings())
        app.state.lienthong.settings.check()
        app.state.lienthong.objects.ping()  # says exactly what is wrong: unreachable, key, bucket
        app.state.connection_slots = asyncio.Semaphore(REQUEST_CONNECTIONS)
        yield
        if own:
            app.state.lienthong.engine.dispose()

    app = FastAPI(
        title="lienthong",
        summary="E-office, one-stop shop and inter-agency exchange for Vietnamese public administration",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        UploadLimit, limit=lambda: app.state.lienthong.settings.max_upload_mb * 1024 * 1024
    )
    for module in (
        health,
        auth,
        org,
        calendar,
        procedures,
        workflow,
        files,
        dossiers,
        documents,
        exchange,
        signatures,
        signing_keys,
        external_signing,
    ):
        app.include_router(module.router)
    app.include_router(files.dossier_files)
    app.include_router(exchange.log_router)
    return app
