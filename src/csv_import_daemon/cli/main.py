"""Command line entry point: one parser built from command modules, one error path.

Each command lives in a module with ``register(subparsers)``, which adds its parser and
sets ``handler(args, settings) -> exit code``. A new command is a new module named in
``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from csv_import_daemon import __version__
from csv_import_daemon.config.settings import CONFIG_ENV, ENV_PREFIX, load_settings
from csv_import_daemon.errors import (
    ConfigError,
    CsvImportError,
    DatabaseUnavailableError,
    ExitCode,
    exit_code_for,
)
from csv_import_daemon.logs import configure_logging, get_logger

log = get_logger("csv_import_daemon.cli")

COMMAND_MODULES = [
    "csv_import_daemon.cli.run",
    "csv_import_daemon.cli.import_files",
    "csv_import_daemon.cli.status",
    "csv_import_daemon.cli.db",
    "csv_import_daemon.cli.verify",
    "csv_import_daemon.cli.trips",
]
BROKEN_PIPE = 128 + 13  # what a shell reports for a tool ended by SIGPIPE

_SETTING_FLAGS = (
    "database_url",
    "watch_dir",
    "source_timezone",
    "date_order",
    "polling",
    "recursive",
    "rescan_interval",
    "settle",
    "archive_dir",
    "archive_quiet",
    "run_migrations",
    "log_format",
    "log_level",
    "instance_name",
    "decimal_mark",
    "default_account",
    "metrics_address",
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wider help columns; each flag's help states its default itself."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csv-import-daemon",
        description="Import NinjaTrader 8 execution CSV exports into a journal database, "
        "each execution exactly once.",
        epilog=f"Settings: defaults < configuration file < {ENV_PREFIX}<NAME> < flags. "
        f"The file is --config, else ${CONFIG_ENV}, else "
        "$XDG_CONFIG_HOME/csv-import-daemon/config.toml, else /etc/csv-import-daemon/config.toml.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"csv-import-daemon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    original = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", _Formatter)
        return original(name, **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _early_log_format(args: argparse.Namespace) -> Any:
    """The log format for an error found before the settings exist: the flag, else the
    environment's if it is a valid one, else auto (JSON when stderr is not a terminal)."""
    choice = getattr(args, "log_format", None) or os.environ.get(ENV_PREFIX + "LOG_FORMAT", "")
    return choice.lower() if choice.lower() in ("json", "console", "auto") else "auto"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except BrokenPipeError:
        # The reader went away (`status | head`): stop quietly, as other tools do. Point
        # stdout at /dev/null so the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


def _main(args: argparse.Namespace) -> int:
    flags = {k: getattr(args, k, None) for k in _SETTING_FLAGS}
    try:
        settings = load_settings(flags, config_file=args.config)
    except ConfigError as exc:
        configure_logging(_early_log_format(args), "info")
        log.error("configuration_error", error=str(exc))
        return ExitCode.USAGE
    configure_logging(settings.log_format, settings.log_level)
    try:
        code: int = args.handler(args, settings)
        return code
    except ConfigError as exc:
        log.error("configuration_error", error=str(exc))
        return exit_code_for(exc)
    except DatabaseUnavailableError as exc:
        log.error("database_unavailable", error=str(exc))
        return exit_code_for(exc)
    except DBAPIError as exc:  # OperationalError included
        from csv_import_daemon.config.settings import masked_url  # noqa: PLC0415

        detail = str(getattr(exc, "orig", exc)).strip().splitlines()
        where = masked_url(settings.database_url)
        log.error("database_unavailable", error=f"cannot use database {where}: {detail[0]}")
        return exit_code_for(exc)
    except CsvImportError as exc:
        log.error("command_failed", error=str(exc))
        return exit_code_for(exc)
