"""Is the journal writable? A write probe at start, and words for a refused write.

A SQLite journal the daemon may read but not write (its mode, its owner, an immutable flag,
a read-only mount) otherwise looks healthy until the first import, which then fails with
SQLite's "attempt to write a readonly database" and nothing about whose permission is
missing. These helpers say which file or folder refuses and which user the daemon runs as.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from csv_import_daemon.db.engine import describe_db_error, sqlite_path, writing
from csv_import_daemon.errors import DatabaseUnavailableError

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14
# PostgreSQL: read_only_sql_transaction, insufficient_privilege.
_PG_REFUSED = {"25006", "42501"}
# Changes nothing, but SQLite and PostgreSQL both start a write transaction for it.
_PROBE = text("DELETE FROM daemon_instances WHERE 1 = 0")

READ_ONLY_PROBLEM = "journal not writable"  # /healthz's reason: no path, no user


class JournalReadOnlyError(DatabaseUnavailableError):
    """The journal can be read but not written; the message names what and for whom."""


def runs_as() -> str:
    """The user this process runs as, by name and uid (the permission that matters)."""
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "?"
    return f"user {name} (uid {uid})"


def probe_write(engine: Engine) -> None:
    """Start a write that changes nothing; JournalReadOnlyError if the journal refuses."""
    try:
        with writing(engine) as conn:
            conn.execute(_PROBE)
    except DBAPIError as exc:
        if is_write_refused(engine, exc):
            raise JournalReadOnlyError(describe_refused(engine, exc)) from None
        raise


def is_write_refused(engine: Engine, exc: BaseException) -> bool:
    """Did the database refuse a write for a permission, not an outage?"""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.Error):
        code = (getattr(orig, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == _SQLITE_READONLY:
            return True
        # An immutable or read-only-mounted file fails a write through an open handle as an
        # I/O error, and a new handle as "cannot open": the file's mode tells them apart.
        return code in (_SQLITE_IOERR, _SQLITE_CANTOPEN) and unwritable(engine) is not None
    return getattr(orig, "sqlstate", None) in _PG_REFUSED


def unwritable(engine: Engine) -> str | None:
    """The SQLite journal file or folder this process cannot write, in words; None when
    every one can be written (or the database is not a SQLite file)."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return None
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return f"the journal file {candidate} is not writable by {runs_as()}"
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"the journal's folder {folder} is not writable by {runs_as()} "
            "(SQLite keeps its -wal and -shm files beside the journal)"
        )
    return None


def describe_refused(engine: Engine, exc: BaseException) -> str:
    """A refused write in words: what cannot be written, by whom, and what to fix."""
    where = unwritable(engine)
    detail = describe_db_error(engine, exc)
    if where is None:
        where = f"the database refuses writes by {runs_as()} ({detail})"
        return f"{where}; grant that user write access"
    return f"{where} ({detail}); fix its permissions, owner, immutable flag or mount"
