"""``csv-import-daemon run``: the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from csv_import_daemon.cli.common import DEFAULTS, add_common, add_reading, default
from csv_import_daemon.config.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("run")  # its help: cli.main.COMMANDS
    p.add_argument(
        "--watch",
        dest="watch_dir",
        type=Path,
        metavar="DIR",
        help="folder to watch (default: none, required)",
    )
    add_reading(p)
    p.add_argument(
        "--polling",
        action="store_const",
        const=True,
        help="poll instead of inotify: network shares, Docker, WSL" + default(DEFAULTS.polling),
    )
    p.add_argument(
        "--recursive",
        action="store_const",
        const=True,
        help="also watch subfolders" + default(DEFAULTS.recursive),
    )
    p.add_argument(
        "--rescan-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between full rescans, 0 for never" + default(DEFAULTS.rescan_interval),
    )
    p.add_argument(
        "--archive-dir",
        type=Path,
        metavar="DIR",
        help="move finished files of past days here (default: none, off)",
    )
    p.add_argument(
        "--archive-quiet",
        type=float,
        metavar="SECONDS",
        help="seconds a finished file must be unchanged before it is archived"
        + default(DEFAULTS.archive_quiet),
    )
    p.add_argument(
        "--no-migrate",
        dest="run_migrations",
        action="store_const",
        const=False,
        help="do not bring the schema to the newest revision at start (default: migrate)",
    )
    p.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics and /healthz here, e.g. 127.0.0.1:9108 (default: off)",
    )
    p.add_argument(
        "--report-path",
        type=Path,
        metavar="FILE",
        help="keep this journal page (HTML) fresh after each commit (default: off)",
    )
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from csv_import_daemon.daemon.lifecycle import run  # noqa: PLC0415 - watchdog only here

    if settings.report_path is None:
        return run(settings)
    # The daemon keeps the page fresh; the reports layer makes it (the daemon cannot import
    # it), so the page is handed in from here.
    from csv_import_daemon.daemon.report_writer import RELOAD  # noqa: PLC0415
    from csv_import_daemon.reports.journal_file import PageFile  # noqa: PLC0415

    return run(settings, page=PageFile(settings, settings.report_path, refresh_seconds=RELOAD))
