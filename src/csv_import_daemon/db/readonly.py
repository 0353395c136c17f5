"""Read-only access for audits: nothing created, migrated or written, safe beside the daemon.

SQLite is opened through a ``file:...?mode=ro`` URI with ``query_only`` on (a missing file
is an error, never a new empty journal); PostgreSQL runs one ``READ ONLY`` transaction.
Either way the audit reads one consistent snapshot while the daemon goes on writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event

from csv_import_daemon.config.database_url import masked_url
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.engine import make_engine, parse_database_url, sqlite_path
from csv_import_daemon.errors import DatabaseUnavailableError


def readonly_engine(settings: Settings) -> Engine:
    """An engine that cannot write ``settings.database_url``; nothing is connected yet."""
    url = parse_database_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return make_engine(settings)  # creates nothing on a server; reads go READ ONLY below
    shown = masked_url(url)
    path = sqlite_path(settings.database_url)
    if path is None:
        raise DatabaseUnavailableError(f"cannot use database {shown}: no journal file to read")
    if not path.is_file():
        raise DatabaseUnavailableError(f"cannot use database {shown}: {path} does not exist")
    uri = f"file:{quote(str(path))}?mode=ro"
    timeout = settings.busy_timeout

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

    engine = create_engine("sqlite://", creator=connect)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's
        dbapi_connection.execute("PRAGMA query_only = ON")
        dbapi_connection.execute("PRAGMA cache_size = -65536")  # as the daemon's: index pages

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # a read transaction: one snapshot in WAL mode

    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction, rolled back at the end (there is nothing to commit)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin() as tx:
            yield conn
            tx.rollback()
