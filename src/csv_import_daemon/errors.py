"""One root error class and the process exit codes built on it."""

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


class ConfigError(CsvImportError):
    """The settings are unusable; the message says what is allowed."""


class UnknownFormatError(CsvImportError):
    """A file is not a NinjaTrader Executions export."""


class FileReadError(CsvImportError):
    """A file cannot be read right now (permission, lock, vanished); retried later."""


class NotRegularFileError(CsvImportError):
    """A path that is not a regular file (a FIFO, a device, a socket): refused, not read."""


class DatabaseUnavailableError(CsvImportError):
    """The database cannot be reached; nothing was written."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """The process exit code for an error that ends a command (one mapping for all)."""
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415 - keeps this module dependency-free

    if isinstance(exc, ConfigError):
        return ExitCode.USAGE
    if isinstance(exc, DatabaseUnavailableError | DBAPIError):
        return ExitCode.DATABASE_UNAVAILABLE
    return ExitCode.FILE_FAILED
