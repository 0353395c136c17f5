"""Engine creation: SQLite pragmas, write locks taken up front, clear connection errors."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from csv_import_daemon.config.database_url import masked_url, masked_url_text
from csv_import_daemon.config.settings import Settings, is_default_database
from csv_import_daemon.errors import ConfigError, DatabaseUnavailableError

WRITE_OPTION = "csv_import_write"
# PostgreSQL: every write transaction holds this advisory lock shared from its start, a
# round-trip rebuild holds it exclusively: a rebuild waits for the imports in flight and
# they wait for it, always in this order (this lock first, then the per-key ones), so the
# two never deadlock nor see each other's half-done work. Any fixed number: 0x43534952
# ("CSIR"), written out in constant statements (no SQL is assembled at run time).
_REBUILD_SHARED = "SELECT pg_advisory_xact_lock_shared(1129531730)"
_REBUILD_EXCLUSIVE = "SELECT pg_advisory_xact_lock(1129531730)"
EXCLUSIVE = "exclusive"  # WRITE_OPTION's value for the rebuild (True: an ordinary writer)


def make_engine(settings: Settings, *, create: bool = True) -> Engine:
    """Build the engine for ``settings.database_url``; nothing is connected yet.

    ``create``: may a SQLite journal that does not exist be created? Read-only commands say
    no, so a mistyped path is an error instead of a fresh empty journal. Only the default
    state folder is created; an explicitly given path's folder must exist.
    """
    url = parse_database_url(settings.database_url)
    if settings.database_password is not None and url.password is None:
        url = url.set(password=settings.database_password)  # from a file, never argv
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(settings.database_url)
        if path is not None:
            _prepare_sqlite_file(path, settings, create=create)
        kwargs["connect_args"] = {"timeout": settings.busy_timeout}
    else:
        kwargs["pool_pre_ping"] = True
        # A network that dies without a reset (a cable, a VPN) would otherwise hang a
        # statement for hours: probe an idle connection after 30 s, give up after three
        # missed probes or 60 s of unacknowledged data. Values in the URL win.
        defaults = {
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 60_000,
        }
        kwargs["connect_args"] = {k: v for k, v in defaults.items() if k not in url.query}
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"database_url: no driver for {url.drivername!r} ({exc}); for PostgreSQL install "
            "the extra: pip install 'csv-import-daemon[postgres]' and use postgresql+psycopg://"
        ) from None
    if engine.dialect.name == "sqlite":
        _sqlite_pragmas(engine, settings)
    elif engine.dialect.name == "postgresql":
        _rebuild_lock(engine)
    return engine


def _rebuild_lock(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        if write:
            conn.exec_driver_sql(_REBUILD_EXCLUSIVE if write == EXCLUSIVE else _REBUILD_SHARED)


def parse_database_url(database_url: str) -> URL:
    """``database_url`` as SQLAlchemy's URL; ConfigError saying what is allowed otherwise."""
    try:
        return make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            f"database_url: {masked_url(database_url)!r} is not a database URL; "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from None


def sqlite_path(database_url: str) -> Path | None:
    """The absolute file of a SQLite URL; None for other databases and ``:memory:``."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(os.path.abspath(Path(url.database).expanduser()))


def _prepare_sqlite_file(path: Path, settings: Settings, *, create: bool) -> None:
    if not create:
        if not path.is_file():
            raise DatabaseUnavailableError(
                f"no journal at {path}: the SQLite file does not exist (nothing was created); "
                f"check database_url{_read_from(settings)} or create it with "
                "`csv-import-daemon db upgrade`"
            )
        return
    if not path.parent.is_dir():
        if not is_default_database(settings.database_url):
            raise ConfigError(
                f"database_url: the folder {path.parent} does not exist; create it first "
                "or give a path in an existing folder"
            )
        try:
            # The owner alone may read the journal: it holds account numbers.
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"cannot use database sqlite:///{path}: "
                f"cannot create its folder {path.parent}: {exc.strerror or exc}"
            ) from None
    _create_owner_only(path)


def _read_from(settings: Settings) -> str:
    where = settings.config_file
    return f" (configuration file read: {where})" if where else " (no configuration file read)"


def _create_owner_only(path: Path) -> None:
    """Create a new journal file as 0600 (SQLite gives its -wal and -shm files the same
    mode); an existing one keeps the permissions its owner chose."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        pass  # not creatable here: connecting reports it, with SQLite's own words


# Constant statements only: no SQL is assembled from values (the settings allow just these).
_SYNCHRONOUS = {"NORMAL": "PRAGMA synchronous = NORMAL", "FULL": "PRAGMA synchronous = FULL"}


def _sqlite_pragmas(engine: Engine, settings: Settings) -> None:
    synchronous = _SYNCHRONOUS[settings.sqlite_synchronous]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout: set by sqlite3.connect(timeout=...) from connect_args above.
        # 16 KiB pages for a new journal (an existing one keeps its size): the two
        # random-key unique indexes get shallower and a commit writes fewer, fuller pages
        # (1M-row cold import 24.7 s -> 18.0 s, measured in benchmarks/bench_speed.py).
        cursor.execute("PRAGMA page_size = 16384")
        _wal(cursor, settings.busy_timeout)
        cursor.execute(synchronous)
        # 8 MiB page cache: 64 MiB was no faster (the OS cache serves the index pages) and
        # kept peak RSS near 195 MB; with 8 MiB it stays about 110 MB, flat in N.
        cursor.execute("PRAGMA cache_size = -8192")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at the start so a batch never has to upgrade a read
        # lock halfway (which SQLite answers with "database is locked" at once).
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _wal(cursor: Any, busy_timeout: float) -> None:
    """Switch to WAL. On a new file that takes an exclusive lock, and SQLite answers a second
    connection switching at the same moment with "database is locked" at once, without its
    busy handler: several importers started together on a new journal. Retry within the
    busy timeout instead."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def writing(engine: Engine, *, rebuild: bool = False) -> Iterator[Connection]:
    """A write transaction: BEGIN IMMEDIATE on SQLite, a plain transaction elsewhere that
    holds the rebuild lock shared (``rebuild``: exclusively, waiting for every writer)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: EXCLUSIVE if rebuild else True})
        with conn.begin():
            yield conn


def check_connection(engine: Engine) -> None:
    """Connect once; raise DatabaseUnavailableError with a clear message if impossible."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailableError(describe_db_error(engine, exc)) from None


def describe_db_error(engine: Engine, exc: BaseException) -> str:
    where = masked_url(engine.url)
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()
    # A driver may quote its connection string back: never its password.
    first = masked_url_text(detail[0]) if detail else type(exc).__name__
    return f"cannot use database {where}: {first}"
