"""``csv-import-daemon status``: the journal at a glance, or ``--json`` (a stable schema)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any

from csv_import_daemon.cli.common import add_common, open_journal
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import recorded
from csv_import_daemon.db.engine import check_connection
from csv_import_daemon.errors import ExitCode


def register(sub: Any) -> None:
    p = sub.add_parser("status")  # its help: cli.main.COMMANDS
    p.add_argument(
        "--json",
        action="store_true",
        help="the report as JSON on stdout, schema in the README (default: text)",
    )
    p.add_argument("--limit", type=int, default=20, help="recent rejections to show (default: 20)")
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from csv_import_daemon.reports.status import collect_status, render_status  # noqa: PLC0415

    engine = open_journal(settings, create=False)  # a missing journal is exit 3
    try:
        check_connection(engine)
        settings = recorded.settle(engine, settings, record=False)
        report = collect_status(engine, args.limit, settings=settings)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(report, default=str, indent=2))
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(render_status(visible(report), width))
    return ExitCode.OK
