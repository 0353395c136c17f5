"""Command line entry points: import, run, status and db."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from csv_import_daemon import __version__, trip_commands
from csv_import_daemon.config import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import check_connection, describe_db_error, make_engine
from csv_import_daemon.errors import (
    ConfigError,
    CsvImportError,
    DatabaseUnavailableError,
    ExitCode,
    exit_code_for,
)
from csv_import_daemon.logs import configure_logging, get_logger

log = get_logger("csv_import_daemon.cli")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML settings file (or CSV_IMPORT_CONFIG)")
    p.add_argument(
        "--database",
        dest="database_url",
        help="SQLAlchemy URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)",
    )
    p.add_argument("--log-format", choices=["auto", "json", "console"])
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--instance-name", help="checkpoint owner name (default: host name)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csv-import-daemon",
        description="Import NinjaTrader 8 execution CSV exports into a journal database, "
        "each execution exactly once.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import files once and exit")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--source-timezone", help="IANA zone of the trading PC (default: host's)")
    p.add_argument("--date-order", choices=["auto", "mdy", "dmy"])
    p.add_argument("--reread", action="store_true", help="read files again from the start")
    p.add_argument(
        "--settle",
        type=float,
        help="seconds a file must be quiet before an unterminated last line counts (default 5)",
    )
    _common(p)

    p = sub.add_parser("run", help="watch a folder and import continuously")
    p.add_argument("--watch", dest="watch_dir", type=Path, help="folder to watch")
    p.add_argument("--source-timezone")
    p.add_argument("--date-order", choices=["auto", "mdy", "dmy"])
    p.add_argument(
        "--polling",
        action="store_const",
        const=True,
        help="poll instead of inotify (network shares, Docker, WSL)",
    )
    p.add_argument("--recursive", action="store_const", const=True)
    p.add_argument("--rescan-interval", type=float, help="seconds between full rescans")
    p.add_argument(
        "--settle",
        type=float,
        help="quiet seconds before a final unterminated line is read (default 5)",
    )
    p.add_argument("--archive-dir", type=Path, help="move finished files here (off if unset)")
    p.add_argument("--archive-quiet", type=float, help="quiet seconds before archiving")
    p.add_argument(
        "--no-migrate",
        dest="run_migrations",
        action="store_const",
        const=False,
        help="do not run migrations at start",
    )
    _common(p)

    p = sub.add_parser("status", help="counts, checkpoints and recent rejections")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--limit", type=int, default=20, help="recent rejections to show")
    _common(p)

    p = sub.add_parser("db", help="schema migrations")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="upgrade to REV (default head)")
    up.add_argument("revision", nargs="?", default="head")
    _common(up)
    down = dbsub.add_parser("downgrade", help="downgrade to REV (base removes everything)")
    down.add_argument("revision")
    _common(down)
    cur = dbsub.add_parser("current", help="print the current revision")
    _common(cur)
    trip_commands.register(sub, _common)  # round-trips, pnl (issue 13)
    return parser


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
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flags = {k: getattr(args, k, None) for k in _SETTING_FLAGS}
    try:
        settings = load_settings(flags, config_file=args.config)
    except ConfigError as exc:
        print(f"csv-import-daemon: configuration error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    configure_logging(settings.log_format, settings.log_level)
    try:
        if args.command == "run":
            from csv_import_daemon.daemon import run  # noqa: PLC0415 - watchdog only here

            return run(settings)
        engine = make_engine(settings)
        try:
            if args.command == "import":
                return _import(engine, settings, args.paths, args.reread)
            if args.command == "status":
                return _status(engine, settings, args.json, args.limit)
            if args.command in trip_commands.COMMANDS:
                return trip_commands.handle(engine, settings, args)
            return _db(engine, args)
        finally:
            engine.dispose()
    except ConfigError as exc:
        log.error("configuration_error", error=str(exc))
        return exit_code_for(exc)
    except DatabaseUnavailableError as exc:
        log.error("database_unavailable", error=str(exc))
        return exit_code_for(exc)
    except DBAPIError as exc:  # OperationalError included
        log.error("database_error", error=describe_db_error(engine, exc))
        return exit_code_for(exc)
    except CsvImportError as exc:
        log.error("error", error=str(exc))
        return exit_code_for(exc)


def _import(engine: Engine, settings: Settings, paths: list[Path], reread: bool) -> int:
    from csv_import_daemon.importer import ImportService  # noqa: PLC0415

    migrate.prepare_database(engine, settings)
    service = ImportService(engine, settings)
    failed = False
    files = _expand(paths)
    for path in files:
        bar = _ProgressBar(path) if sys.stderr.isatty() else None
        result = service.import_file(path, reread=reread, progress=bar)
        if bar:
            bar.done()
        summary = result.as_dict()
        if result.status in ("refused", "error"):
            failed = True
            log.error("import_failed", **summary)
        else:
            log.info("import", **summary)
        print(_summary_line(summary), flush=True)
    return ExitCode.FILE_FAILED if failed or not files else ExitCode.OK


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir() if c.suffix.lower() == ".csv"))
        else:
            out.append(p)
    return out


def _summary_line(s: dict[str, Any]) -> str:
    parts = [
        f"{s['file']}: {s['status']}",
        f"inserted={s['inserted']}",
        f"duplicates={s['duplicates']}",
        f"rejected={s['rejected']}",
        f"conflicts={s['conflicts']}",
    ]
    if s.get("pending_bytes"):
        parts.append(f"pending_bytes={s['pending_bytes']}")
    if s.get("message"):
        parts.append(f"-- {s['message']}")
    return " ".join(parts)


class _ProgressBar:
    """A one-line bar on the terminal for files big enough to wait for."""

    def __init__(self, path: Path) -> None:
        self.name = path.name[:40]
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < 5_000_000:
            return
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\r{self.name} [{'#' * filled}{'.' * (width - filled)}] {done * 100 // max(total, 1)}%"
        )
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _status(engine: Engine, settings: Settings, as_json: bool, limit: int) -> int:
    from csv_import_daemon.status import collect_status, render_status  # noqa: PLC0415

    check_connection(engine)
    report = collect_status(engine, limit)
    if as_json:
        print(json.dumps(report, default=str, indent=2))
    else:
        print(render_status(report))
    return ExitCode.OK


def _db(engine: Engine, args: argparse.Namespace) -> int:
    from alembic.util import CommandError  # noqa: PLC0415 - imported with migrate anyway

    check_connection(engine)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(engine, args.revision)
        elif args.db_command == "downgrade":
            migrate.downgrade(engine, args.revision)
    except CommandError as exc:  # unknown revision, or not a target from here
        raise ConfigError(
            f"db {args.db_command} {args.revision}: {exc}; use head, base or one of "
            f"{', '.join(migrate.revisions())}"
        ) from None
    print(migrate.current(engine) or "base")
    return ExitCode.OK
