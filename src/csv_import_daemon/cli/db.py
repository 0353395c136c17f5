"""``csv-import-daemon db``: schema migrations; a downgrade that loses rows asks first."""

from __future__ import annotations

import argparse
from typing import Any

from csv_import_daemon.cli.common import add_common, open_journal
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import check_connection
from csv_import_daemon.errors import ConfigError, ExitCode


def register(sub: Any) -> None:
    p = sub.add_parser("db")  # its help: cli.main.COMMANDS
    dbsub = p.add_subparsers(
        dest="db_command", required=True, metavar="{upgrade,downgrade,current}"
    )
    up = dbsub.add_parser("upgrade", help="upgrade to REV, creating the journal if needed")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    add_common(up)
    up.set_defaults(handler=handle)
    down = dbsub.add_parser(
        "downgrade", help="downgrade to REV (base removes everything; asks for --yes first)"
    )
    down.add_argument("revision", help="target revision, or base (default: none, required)")
    down.add_argument(
        "--yes",
        action="store_true",
        help="drop tables or delete rows that hold data without asking again (default: off)",
    )
    add_common(down)
    down.set_defaults(handler=handle)
    cur = dbsub.add_parser("current", help="print the current revision")
    add_common(cur)
    cur.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from alembic.util import CommandError  # noqa: PLC0415 - imported with migrate anyway

    # Only an upgrade may create a journal; `current` and `downgrade` of a missing file
    # are an error, never a fresh empty database.
    engine = open_journal(settings, create=args.db_command == "upgrade")
    try:
        check_connection(engine)
        try:
            if args.db_command == "upgrade":
                migrate.upgrade(engine, args.revision)
            elif args.db_command == "downgrade":
                migrate.downgrade(engine, args.revision, allow_loss=args.yes)
        except CommandError as exc:  # unknown revision, or not a target from here
            raise ConfigError(
                f"db {args.db_command} {args.revision}: {exc}; use head, base or one of "
                f"{', '.join(migrate.revisions())}"
            ) from None
        print(migrate.current(engine) or "base")
    finally:
        engine.dispose()
    return ExitCode.OK
