"""The ``report`` command: the trader's journal page, one self-contained HTML file."""

from __future__ import annotations

import argparse
import os
import webbrowser
from pathlib import Path
from typing import Any

from csv_import_daemon.cli.common import DEFAULTS, add_common, default
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.cli.trips import _day
from csv_import_daemon.config.settings import Settings, default_report_path
from csv_import_daemon.db import recorded
from csv_import_daemon.db.readonly import readonly_engine
from csv_import_daemon.errors import ConfigError, ExitCode
from csv_import_daemon.logs import get_logger
from csv_import_daemon.reports.journal_data import PageFilter
from csv_import_daemon.reports.journal_file import make_page, write_page

log = get_logger(__name__)


def register(sub: Any) -> None:
    """Add ``report`` to the CLI's subparsers."""
    p = sub.add_parser("report")  # its help: cli.main.COMMANDS
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the page (default: report_path, else journal.html in the "
        "state folder)",
    )
    p.add_argument(
        "--open", action="store_true", help="open the page in the default browser (default: off)"
    )
    p.add_argument("--account", help="only this account (default: all)")
    p.add_argument("--root", help="only this contract root, e.g. MNQ (default: all)")
    p.add_argument(
        "--since", type=_day, help="first trading day (YYYY-MM-DD) opened on (default: any)"
    )
    p.add_argument(
        "--until", type=_day, help="last trading day (YYYY-MM-DD) opened on (default: any)"
    )
    p.add_argument(
        "--source-timezone",
        metavar="ZONE",
        help="IANA zone the page shows times in: the trading PC's"
        + default(f"the host's, {DEFAULTS.source_timezone}"),
    )
    add_common(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Read the journal (read-only, never created), write the page, print its path."""
    out: Path = args.out or settings.report_path or default_report_path()
    out = Path(os.path.abspath(out.expanduser()))
    if not out.parent.is_dir():
        if args.out is not None:
            raise ConfigError(f"--out: folder {out.parent} does not exist")
        out.parent.mkdir(parents=True, exist_ok=True)
    flt = PageFilter(args.account, args.root, args.since, args.until)
    engine = readonly_engine(settings)
    try:
        # The zone the journal recorded, not the host's, when none is given.
        settings = recorded.settle(engine, settings, record=False)
        html = make_page(engine, settings, flt)
    finally:
        engine.dispose()
    try:
        write_page(out, html)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None
    log.info("report_written", bytes=len(html.encode()))
    print(visible(str(out)))
    if args.open:
        webbrowser.open(out.as_uri())
    return ExitCode.OK
