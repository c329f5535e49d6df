"""The `lienthong` command line (Typer). Each command calls one service."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.cli_documents import document_app
from api.cli_dossiers import dossier_app
from api.cli_edxml import edxml_app
from api.cli_exchange import exchange_app
from api.cli_storage import storage_app
from api.cli_users import agency_app, user_app
from api.deps import AppState
from api.settings import Settings, SettingsError, settings_error
from engine.errors import LienthongError
from signing.errors import SigningError
from storage.errors import StorageError

# Typer's pretty tracebacks print local variables, secrets among them: `main` says one
# sentence instead. The root app's flags govern every sub-app.
app = typer.Typer(
    help="lienthong — e-office, một cửa và liên thông văn bản",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database / cơ sở dữ liệu", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar / lịch ngày làm việc", no_args_is_help=True)
workflows_app = typer.Typer(help="BPMN process definitions / quy trình", no_args_is_help=True)
procedures_app = typer.Typer(help="Procedure catalogue / danh mục TTHC", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(calendar_app, name="calendar")
app.add_typer(workflows_app, name="workflows")
app.add_typer(procedures_app, name="procedures")
app.add_typer(dossier_app, name="dossier")  # receive, show, list, stats, supplements
app.add_typer(storage_app, name="storage")
app.add_typer(exchange_app, name="exchange")
app.add_typer(document_app, name="document")
app.add_typer(edxml_app, name="edxml")
app.add_typer(user_app, name="user")  # add, create-admin, set-password, disable, enable
app.add_typer(agency_app, name="agency")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
log = logging.getLogger("lienthong.cli")


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _invalid(
    e: ValidationError, options: Mapping[str, str], hints: Mapping[str, str] | None = None
) -> typer.Exit:
    """Exit 1 with one sentence naming each bad option (`options`: request field → CLI
    option) and its field, as the API's 422 does; `hints` explain a field's pattern."""
    problems = []
    for error in e.errors()[:5]:
        field = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        name = f"{options[field]} ({field})" if field in options else field
        hint = (hints or {}).get(field) if error["type"] == "string_pattern_mismatch" else None
        problems.append(f"{name}: {hint or error['msg']}")
    return _fail("Dữ liệu không hợp lệ / invalid input: " + "; ".join(problems))


@contextmanager
def _errors() -> Iterator[None]:
    # One wrapper turns every known error into a sentence and exit code 1.
    try:
        yield
    except (LienthongError, StorageError, SigningError, SettingsError) as e:
        raise _fail(getattr(e, "message", str(e))) from None
    except ValidationError as e:
        if e.title != Settings.__name__:
            raise
        raise _fail(str(settings_error(e))) from None
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        raise _fail(
            f"Lỗi cơ sở dữ liệu / database error: {str(cause).splitlines()[0]} "
            "(đã chạy `lienthong db upgrade` chưa? / did you run `lienthong db upgrade`?)"
        ) from None


def _state() -> AppState:
    from api.app import build_state

    return build_state(Settings())


@contextmanager
def _unit_of_work() -> Iterator[tuple[AppState, Session]]:
    with _errors():
        state = _state()
        try:
            with state.sessions.begin() as session:
                yield state, session
        finally:
            state.engine.dispose()


def _run(fn: Callable[[], T]) -> T:
    with _errors():
        return fn()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (SQLite under ./var by default)."""
    from storage.migrate import current_revision, upgrade

    with _errors():
        state = _state()
        upgrade(state.engine)
        out.print(f"database at revision {current_revision(state.engine)}")
        state.engine.dispose()


@app.command()
def demo(
    province: Annotated[
        str, typer.Option(help="Level-1 code of the demo province (a second node: H98)")
    ] = "H99",
) -> None:
    """Seed the demo province, agencies and users (password `demo`) if the database is empty."""
    from engine.setup import install_shipped

    with _unit_of_work() as (state, session):
        report = install_shipped(
            session, state.settings.workflows_dir, seed_demo=True, province=province
        )
    out.print(
        "demo data seeded" if report.demo_seeded else "database not empty: demo data left as is"
    )
    out.print(
        f"deployed: {', '.join(report.deployed) or 'nothing new'}; procedures added: {report.procedures_added}"
    )


def _require_current_schema(state: AppState) -> None:
    from storage.migrate import current_revision, head_revision

    current, head = current_revision(state.engine), head_revision()
    if current != head:
        raise SettingsError(
            f"Cơ sở dữ liệu ở phiên bản {current}, cần {head}: chạy `lienthong db upgrade` / "
            f"the database is at revision {current}, this code needs {head}: run `lienthong db upgrade`"
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="LIENTHONG_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="LIENTHONG_PORT")] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the timer worker too")
    ] = True,
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="API processes (LIENTHONG_PROCESSES; one per core)"),
    ] = None,
) -> None:
    """Serve the API (and the worker) on http://LIENTHONG_HOST:LIENTHONG_PORT.

    With several processes, each serves requests with its own connections and the worker
    runs once, in the parent process.
    """
    import uvicorn

    from api.app import create_app
    from api.exchange_client import outbox_for
    from api.worker import run_worker, start_side_loops, upgrader_for
    from engine.demo import users_with_demo_password
    from engine.setup import install_shipped

    with _errors():
        state = _state()
        state.settings.check()
        _require_current_schema(state)
        state.objects.ping()  # unreachable, bad key, missing bucket: said before serving
        with state.sessions.begin() as session:
            install_shipped(session, state.settings.workflows_dir, seed_demo=False)
            weak = [] if state.settings.demo else users_with_demo_password(session)
        if weak:
            raise SettingsError(
                f"Tài khoản {', '.join(weak)} còn mật khẩu demo; đổi mật khẩu hoặc bật LIENTHONG_DEMO=1 / "
                f"accounts {', '.join(weak)} still have the demo password; change it or set LIENTHONG_DEMO=1"
            )
    # Logging starts once the checks passed: a refusal to start is one sentence, alone.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    if worker:
        threading.Thread(
            target=run_worker,
            args=(state.sessions, state.settings.worker_interval, stop),
            kwargs={"upgrader": upgrader_for(state)},
            name="lienthong-worker",
            daemon=True,
        ).start()
        start_side_loops(state, outbox_for(state), stop)
    count = processes or state.settings.processes
    bind_host, bind_port = host or state.settings.host, port or state.settings.port
    try:
        if count > 1:
            # Python runs one thread at a time per process: more cores need more processes.
            # Each builds its own adapters from the same settings (the environment).
            _serve_processes(count, bind_host, bind_port)
        else:
            uvicorn.run(create_app(state=state), host=bind_host, port=bind_port, log_level="info")
    finally:
        stop.set()


def _serve_processes(count: int, host: str, port: int) -> None:
    import socket

    from uvicorn import Config, Server
    from uvicorn.supervisors import Multiprocess

    config = Config(
        "api.app:create_app", factory=True, workers=count, host=host, port=port, log_level="info"
    )
    sock = config.bind_socket()
    # uvicorn makes this socket without naming TCP, so asyncio never turns Nagle off on the
    # connections it accepts, and an answer sent in two writes waits ~40 ms for a delayed
    # ACK. Linux hands TCP_NODELAY on from the listening socket to accepted ones.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, target=Server(config).run, sockets=[sock]).run()


@app.command("worker")
def worker_cmd(once: Annotated[bool, typer.Option(help="One round, then exit")] = False) -> None:
    """Run the timer worker and the exchange outbox alone (several may run against one
    PostgreSQL)."""
    from api.exchange_client import outbox_for
    from api.worker import run_worker, start_side_loops, upgrader_for

    with _errors():
        state = _state()
        # As `serve` does: on an old schema every round would fail with a traceback.
        state.settings.check()
        _require_current_schema(state)
        # Logging starts once the checks passed: a refusal to start is one sentence, alone.
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        outbox = outbox_for(state)
        stop = threading.Event()
        if not once:
            start_side_loops(state, outbox, stop)
        fired = run_worker(
            state.sessions,
            state.settings.worker_interval,
            stop,
            once=once,
            outbox=outbox if once else None,
            upgrader=upgrader_for(state),
        )
        if once:
            out.print(f"fired {fired} timer(s)")


@calendar_app.command("holidays")
def calendar_holidays(
    year: int, as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False
) -> None:
    """Days off and make-up workdays of YEAR."""
    from engine.workdays import list_holidays

    with _unit_of_work() as (_, session):
        days = list_holidays(session, year)
    if as_json:
        print(
            json.dumps(
                [{"date": d.date.isoformat(), "name": d.name, "kind": d.kind} for d in days],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("date", "weekday", "name", "kind")
    for d in days:
        table.add_row(d.date.isoformat(), d.date.strftime("%a"), d.name, d.kind)
    out.print(table)


@calendar_app.command("due")
def calendar_due(
    start: Annotated[str, typer.Argument(help="ISO 8601 start, e.g. 2026-02-13T09:00+07:00")],
    working_days: Annotated[str, typer.Argument(help="Working days, halves allowed (0.5)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The deadline WORKING_DAYS after START."""
    from engine.workdays import due_at

    try:
        start_at = dt.datetime.fromisoformat(start)
        days = Decimal(working_days)
    except (ValueError, InvalidOperation):
        raise _fail(
            f"'{start}' hoặc '{working_days}' không hợp lệ; ví dụ: 2026-02-13T09:00+07:00 3 / "
            "invalid start or number of days; e.g. 2026-02-13T09:00+07:00 3"
        ) from None
    with _unit_of_work() as (_, session):
        due = due_at(session, start_at, days)
    print(json.dumps({"due_at": due.isoformat()}) if as_json else due.isoformat())


@workflows_app.command("deploy")
def workflows_deploy(
    directory: Annotated[
        Path | None, typer.Argument(help="Defaults to the shipped workflows/")
    ] = None,
) -> None:
    """Deploy every BPMN file of DIRECTORY (with DIRECTORY/forms) as new versions where changed."""
    from engine.runtime.definitions import deploy_directory
    from engine.runtime.services import DEFAULT_SERVICES

    with _unit_of_work() as (state, session):
        results = deploy_directory(
            session,
            directory or state.settings.workflows_dir,
            known_services=DEFAULT_SERVICES.names(),
        )
    for view, created in results:
        out.print(
            f"{view.process_id} v{view.version} {'deployed' if created else 'unchanged'} ({view.filename})"
        )


@procedures_app.command("sync")
def procedures_sync(
    overwrite: Annotated[
        bool, typer.Option(help="Also overwrite procedures edited in the database")
    ] = False,
) -> None:
    """Load workflows/catalogue into the database."""
    from engine.catalogue import sync_catalogue

    with _unit_of_work() as (state, session):
        added, updated = sync_catalogue(
            session, state.settings.workflows_dir / "catalogue", overwrite=overwrite
        )
    out.print(f"added {added}, updated {updated}")


def _principal(session: Session, username: str) -> Any:
    from sqlalchemy import select

    from engine.auth import principal_for
    from engine.errors import NotFoundError
    from storage.models import User

    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFoundError(f"Không có người dùng {username} / no user {username}")
    return principal_for(session, user_id)


def _print_json(value: Any) -> None:
    from dataclasses import asdict, is_dataclass

    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _register_signing() -> None:
    from api.cli_signing import register

    register(app)


_register_signing()


def _debug() -> bool:
    return os.environ.get("LIENTHONG_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _log_unexpected(e: Exception) -> str | None:
    """Write the traceback of `e` to DATA_DIR/log/errors.log; returns that path, None if it failed.

    A file, not the terminal: the server's stderr is often shipped elsewhere, and the error
    may be the very thing that broke the settings. No local variables are written.
    """
    path = (Path(os.environ.get("LIENTHONG_DATA_DIR") or "var") / "log" / "errors.log").absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False  # not to the console handler `serve` installed
    try:
        log.error("unexpected error in `lienthong %s`", " ".join(sys.argv[1:2]), exc_info=e)
    finally:
        log.removeHandler(handler)
        handler.close()
    return str(path)


def _unexpected(e: Exception) -> int:
    """Say one sentence about an error no wrapper knew (a bug); the traceback goes to the log."""
    name = type(e).__name__
    where = _log_unexpected(e)
    if where:
        vi, en = f"chi tiết trong {where}", f"details in {where}"
    elif _debug():
        vi, en = "chi tiết ở dưới", "details below"
    else:
        vi, en = "chạy lại với LIENTHONG_DEBUG=1 để xem", "run again with LIENTHONG_DEBUG=1 to see"
    err.print(
        f"[red]error:[/red] lỗi không mong đợi ({name}); {vi} / unexpected error ({name}); {en}",
        highlight=False,
    )
    if _debug():
        traceback.print_exception(e, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `lienthong` console script; exits 1 with one sentence on any error."""
    try:
        return app(args=argv if argv is not None else sys.argv[1:], prog_name="lienthong")
    except Exception as e:  # noqa: BLE001 - the last resort: never a traceback with secrets
        raise SystemExit(_unexpected(e)) from None
