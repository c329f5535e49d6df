"""Database engine and session factory: SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.doorbell import Doorbell
from storage.errors import DatabaseUnavailableError

__all__ = [
    "REQUEST_CONNECTIONS",
    "any_row",
    "is_sqlite",
    "make_engine",
    "make_sessionmaker",
    "ping",
    "reading",
]


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


# Connections per process: requests get at most REQUEST_CONNECTIONS of them at once (the API
# makes the rest wait before they take a thread), the worker's loops share what is left.
POOL_SIZE = 10
POOL_OVERFLOW = 10
REQUEST_CONNECTIONS = 10


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    parsed = make_url(url)
    if not (parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")):
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    if parsed.get_backend_name() == "sqlite":
        # One writer at a time in SQLite: wait for the lock rather than fail at once.
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; we issue BEGIN IMMEDIATE-like
        # behaviour ourselves so read-then-write units of work do not deadlock.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # FULL: a commit is on disk before we answer. Under NORMAL a power cut may roll back
    # the last commits, after a receipt slip was printed or a status 01 told the sending
    # node its letter had arrived; one fsync (~0.4 ms here) per commit is the price.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # SQLite's lower() knows only ASCII; Vietnamese search needs Unicode case folding.
    dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get("lienthong_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session that only reads: on SQLite it never takes the write lock (nor waits for it).

    For work that reads for a while before it writes, and for the worker's polls: a
    writing transaction held meanwhile would make every request that writes wait.
    """
    with sessions() as session:
        session.connection(execution_options={"lienthong_read_only": True})
        yield session


def any_row(sessions: sessionmaker[Session], query: Select[Any]) -> bool:
    """Whether `query` finds a row, read without taking SQLite's write lock."""
    # A bare connection, no Session: the worker asks this several times a second when idle.
    engine: Engine = sessions.kw["bind"]
    with engine.connect().execution_options(lienthong_read_only=True) as conn:
        return conn.execute(query.limit(1)).first() is not None


def make_sessionmaker(engine: Engine, doorbell: Doorbell | None = None) -> sessionmaker[Session]:
    """A session factory; units of work open it with `.begin()`. With a doorbell, a commit
    that queued work for another node rings it (the hooks are the exchange outbox's)."""
    info = {} if doorbell is None else {"doorbell": doorbell}
    return sessionmaker(engine, expire_on_commit=False, info=info)


def ping(engine: Engine) -> None:
    """Run `SELECT 1`; raises DatabaseUnavailableError when the database does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # any driver error means "not answering"
        raise DatabaseUnavailableError(
            f"Cơ sở dữ liệu không trả lời / The database does not answer: {type(e).__name__}"
        ) from e
