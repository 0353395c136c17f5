"""The database outage the importer thread is waiting out, as the main loop reads it.

Set when an import fails on the database (unreachable, locked or refusing writes), cleared
when an import succeeds again, and seen as over as soon as any session has committed since
it began: a large file's later batches must not keep ``STATUS=`` and ``/healthz`` reporting
an outage, and the importer learns of those commits from the service's count, not from a
callback.
"""

from __future__ import annotations

from sqlalchemy import Engine

from csv_import_daemon.db.engine import describe_db_error
from csv_import_daemon.db.writable import READ_ONLY_PROBLEM, describe_refused
from csv_import_daemon.importing.write_session import Commits
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)


class DbOutage:
    """Written by the importer thread, read by the main thread (plain attributes)."""

    def __init__(self, commits: Commits) -> None:
        self.commits = commits
        self._error: str | None = None
        self._problem: str | None = None  # /healthz's words for the error (no paths)
        self._commits_at = 0

    @property
    def error(self) -> str | None:
        """What is wrong; None when nothing is, or a commit has succeeded since."""
        error = self._error
        if error is not None and self.commits.count > self._commits_at:
            return None
        return error

    @property
    def problem(self) -> str | None:
        """What kind of problem, for /healthz (None: unreachable or not said)."""
        return self._problem if self.error is not None else None

    def down(self, engine: Engine, exc: BaseException, *, refused: bool) -> str:
        """An import failed on the database; returns the description logged."""
        self._error = describe_refused(engine, exc) if refused else describe_db_error(engine, exc)
        self._problem = READ_ONLY_PROBLEM if refused else None
        self._commits_at = self.commits.count
        if refused:
            # A SQLite handle opened while the file was read-only stays read-only after the
            # permission is fixed: retry on new handles, so the daemon recovers by itself.
            engine.dispose()
        return self._error

    def back(self) -> None:
        """An import succeeded: the outage, if any, is over."""
        if self._error is not None:
            log.info("database_available")
            self._error = self._problem = None
