"""One root error class and the process exit codes built on it.

Code below the command line raises these; ``cli.main`` is the one place that logs the
event an error names and turns it into an exit code (``exit_code_for``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of the command line, documented in the README."""

    OK = 0
    FILE_FAILED = 1  # at least one file could not be imported at all
    USAGE = 2  # bad flags or configuration
    DATABASE_UNAVAILABLE = 3  # the database cannot be reached or migrated at start
    INTERRUPTED = 130  # a second signal during shutdown


class CsvImportError(Exception):
    """Root of every error this package raises on purpose."""

    # The log event ``cli.main`` writes when this error ends a command; None when the
    # code that raised it has logged it already, in its place among the other events.
    event: str | None = "command_failed"

    def log_fields(self) -> dict[str, str]:
        return {"error": str(self)}


class ConfigError(CsvImportError):
    """The settings are unusable; the message says what is allowed."""

    event = "configuration_error"


class WatchFailedError(ConfigError):
    """The watched folder cannot be watched (permissions, the inotify limits)."""

    event = "watch_failed"

    def __init__(self, watch_dir: str, error: str) -> None:
        super().__init__(error)
        self.watch_dir = watch_dir

    def log_fields(self) -> dict[str, str]:
        return {"watch_dir": self.watch_dir, "error": str(self)}


class ImporterDiedError(CsvImportError):
    """The daemon's importer thread ended: the daemon stops (systemd restarts it)."""

    event = None  # the main loop logs importer_died before the daemon's stop events


class UnknownFormatError(CsvImportError):
    """A file is not a NinjaTrader Executions export."""


class FileReadError(CsvImportError):
    """A file cannot be read right now (permission, lock, vanished); retried later."""


class NotRegularFileError(CsvImportError):
    """A path that is not a regular file (a FIFO, a device, a socket): refused, not read."""


class DatabaseUnavailableError(CsvImportError):
    """The database cannot be reached; nothing was written."""

    event = "database_unavailable"


def exit_code_for(exc: BaseException) -> ExitCode:
    """The process exit code for an error that ends a command (one mapping for all)."""
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415 - keeps this module dependency-free

    if isinstance(exc, ConfigError):
        return ExitCode.USAGE
    if isinstance(exc, DatabaseUnavailableError | DBAPIError):
        return ExitCode.DATABASE_UNAVAILABLE
    return ExitCode.FILE_FAILED
