"""What every command shares: the common flags (with their defaults in the help) and the
one way a command opens the journal."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.config.sources import SYSTEM_CONFIG
from csv_import_daemon.db.engine import make_engine

# The defaults a person sees in --help are the ones Settings applies (computed on this host).
DEFAULTS = Settings()
CONFIG_HELP = (
    "TOML settings file (default: $CSV_IMPORT_CONFIG, else "
    "$XDG_CONFIG_HOME/csv-import-daemon/config.toml, else "
    f"{SYSTEM_CONFIG}, else none)"
)


def default(value: object) -> str:
    """`` (default: X)`` for a help text."""
    if isinstance(value, bool):
        value = str(value).lower()
    return f" (default: {value})"


def add_common(p: argparse.ArgumentParser) -> None:
    """The flags every command takes: where the settings and the journal are, and logging."""
    p.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    p.add_argument(
        "--database",
        dest="database_url",
        metavar="URL",
        help="SQLAlchemy URL, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        + default(DEFAULTS.database_url),
    )
    p.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help="auto is console on a terminal, JSON otherwise" + default(DEFAULTS.log_format),
    )
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="least important event shown" + default(DEFAULTS.log_level),
    )
    p.add_argument(
        "--instance-name",
        metavar="NAME",
        help="owner of this daemon's file checkpoints"
        + default(f"host name, {DEFAULTS.instance_name}"),
    )


def add_reading(p: argparse.ArgumentParser, *, as_imported: bool = False) -> None:
    """How a file's times, dates, numbers and account are read: one set of flags for every
    command that reads files. ``as_imported`` (verify): the file is read again as it was
    imported, so each default is the configured value and ``--settle`` does not apply
    (verify reads what is there; it never waits for a line to end)."""
    p.add_argument(
        "--source-timezone",
        metavar="ZONE",
        help="IANA zone the files were imported under (default: the configured one)"
        if as_imported
        else "IANA zone of the trading PC" + default(f"the host's, {DEFAULTS.source_timezone}"),
    )
    p.add_argument(
        "--date-order",
        choices=["auto", "mdy", "dmy"],
        help="fallback for files whose checkpoint settled none (default: the configured one)"
        if as_imported
        else "fallback when neither content nor name decides" + default(DEFAULTS.date_order),
    )
    if not as_imported:
        p.add_argument(
            "--settle",
            type=float,
            metavar="SECONDS",
            help="quiet seconds before an unterminated last line counts" + default(DEFAULTS.settle),
        )
    p.add_argument(
        "--decimal-mark",
        choices=["auto", ".", ","],
        help="for files whose checkpoint settled none (default: the configured one)"
        if as_imported
        else "decimal mark when nothing in a file shows it; auto rejects such values as "
        "ambiguous_decimal" + default(DEFAULTS.decimal_mark),
    )
    p.add_argument(
        "--default-account",
        metavar="ACCOUNT",
        help="account of files without an Account column, as they were imported "
        "(default: the configured one)"
        if as_imported
        else "account of every row of a file without an Account column" + default("none"),
    )


def csv_files(paths: Iterable[Path]) -> list[Path]:
    """The files a command was given: each file as given, each folder's ``*.csv`` (any
    case) in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir() if c.suffix.lower() == ".csv"))
        else:
            out.append(p)
    return out


def open_journal(settings: Settings, *, create: bool) -> Engine:
    """The engine of the configured journal. ``create=False`` (read-only commands): a SQLite
    file that does not exist is an error (exit 3), never a fresh empty journal."""
    return make_engine(settings, create=create)
