"""Command line entry point: one parser built from command modules, one error path.

Each command lives in a module with ``register(subparsers)``, which adds its parser and
sets ``handler(args, settings) -> exit code``. A new command is a new module named in
``COMMANDS``. Only the module of the command being run is imported: the others appear in
the top-level help by name, so ``--version`` and ``--help`` load no database, daemon or
migration code, and ``status`` does not pay for the daemon's imports.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from csv_import_daemon import __version__
from csv_import_daemon.config.sources import CONFIG_ENV, ENV_PREFIX

# typing (3 ms) is loaded for the type checker only: --version and --help never need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from typing import Any

# Command -> (its module, the one-line help the top-level --help shows).
COMMANDS = {
    "run": ("csv_import_daemon.cli.run", "watch a folder and import continuously"),
    "import": ("csv_import_daemon.cli.import_files", "import files once and exit"),
    "status": (
        "csv_import_daemon.cli.status",
        "daemon, settings in force, totals, files with problems first",
    ),
    "db": ("csv_import_daemon.cli.db", "schema migrations"),
    "verify": (
        "csv_import_daemon.cli.verify",
        "check that every execution of the watched files is in the journal (writes nothing)",
    ),
    "round-trips": ("csv_import_daemon.cli.trips", "round trips (flat to flat, FIFO) with P&L"),
    "pnl": (
        "csv_import_daemon.cli.trips",
        "realized net P&L, each exit and commission on its fill's trading day",
    ),
    "report": (
        "csv_import_daemon.cli.report",
        "the journal page: statistics, equity curve, calendar, round trips (HTML)",
    ),
}
BROKEN_PIPE = 128 + 13  # what a shell reports for a tool ended by SIGPIPE
# A command that runs and exits (all but ``run``, the daemon) holds what it reads until it
# prints it: thousands of rows of dicts. Each full collection of CPython's collector walks
# every object alive, those of the imported libraries too, and one came each time the heap
# grew by a quarter: a tenth of a ``round-trips`` listing. Those commands freeze what the
# imports made (never collected, as it lives to the end anyway) and make full collections
# ten times rarer; young objects are collected as always.
_FULL_COLLECTION_EVERY = 100  # younger collections (CPython's default: 10)

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
    "report_path",
)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, which argparse would ask, without importing
    shutil (and zlib, bz2 and lzma with it: a tenth of what ``--help`` takes)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Wider help columns; each flag's help states its default itself."""

    def __init__(self, prog: str) -> None:
        # argparse's own default width: the terminal's columns less 2.
        super().__init__(prog, max_help_position=32, width=_terminal_columns() - 2)


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``load`` names the commands whose modules are imported (all by default).
    The others are listed by name and help, which is all the top-level help needs."""
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
        kwargs.setdefault("help", COMMANDS[name][1])
        return original(name, **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    wanted = COMMANDS if load is None else load
    for module in dict.fromkeys(COMMANDS[name][0] for name in wanted):
        importlib.import_module(module).register(sub)
    for name in COMMANDS:
        if name not in sub.choices:
            sub.add_parser(name)  # listed, not loaded
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: the first word that is not an option (the top-level
    parser's own options, --help and --version, take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _early_log_format(args: argparse.Namespace) -> Any:
    """The log format for an error found before the settings exist: the flag, else the
    environment's if it is a valid one, else auto (JSON when stderr is not a terminal)."""
    choice = getattr(args, "log_format", None) or os.environ.get(ENV_PREFIX + "LOG_FORMAT", "")
    return choice.lower() if choice.lower() in ("json", "console", "auto") else "auto"


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(words)
    if command != "run":
        young, older, _ = gc.get_threshold()
        gc.set_threshold(young, older, _FULL_COLLECTION_EVERY)
    args = build_parser([command] if command in COMMANDS else []).parse_args(words)
    try:
        return _main(args)
    except BrokenPipeError:
        # The reader went away (`status | head`): stop quietly, as other tools do. Point
        # stdout at /dev/null so the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


def _main(args: argparse.Namespace) -> int:
    # Loaded here, not at the top: --version and --help never need them.
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from csv_import_daemon.cli.terminal import visible  # noqa: PLC0415
    from csv_import_daemon.config.database_url import masked_url  # noqa: PLC0415
    from csv_import_daemon.config.settings import load_settings  # noqa: PLC0415
    from csv_import_daemon.errors import (  # noqa: PLC0415
        ConfigError,
        CsvImportError,
        ExitCode,
        exit_code_for,
    )
    from csv_import_daemon.logs import configure_logging, get_logger  # noqa: PLC0415

    log = get_logger("csv_import_daemon.cli")
    flags = {k: getattr(args, k, None) for k in _SETTING_FLAGS}
    try:
        settings = load_settings(flags, config_file=args.config)
    except ConfigError as exc:
        configure_logging(_early_log_format(args), "info", escape=visible)
        log.error("configuration_error", error=str(exc))
        return ExitCode.USAGE
    configure_logging(settings.log_format, settings.log_level, escape=visible)
    if args.command != "run":
        gc.freeze()
    try:
        code: int = args.handler(args, settings)
        return code
    except DBAPIError as exc:  # OperationalError included
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()
        where = masked_url(settings.database_url)
        log.error("database_unavailable", error=f"cannot use database {where}: {detail[0]}")
        return exit_code_for(exc)
    except CsvImportError as exc:
        if exc.event is not None:
            log.error(exc.event, **exc.log_fields())
        return exit_code_for(exc)
