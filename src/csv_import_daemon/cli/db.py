"""``csv-import-daemon db``: schema migrations; a downgrade that loses rows asks first."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, date, datetime, time
from typing import Any

from csv_import_daemon.cli.common import add_common, open_journal
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.config.settings import RECORDED_SETTINGS, Settings
from csv_import_daemon.db import migrate, recorded, schema
from csv_import_daemon.db.engine import check_connection, writing
from csv_import_daemon.db.retention import prune_ledger
from csv_import_daemon.db.tables import utc_now
from csv_import_daemon.errors import ConfigError, ExitCode
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("db")  # its help: cli.main.COMMANDS
    dbsub = p.add_subparsers(
        dest="db_command",
        required=True,
        metavar="{upgrade,downgrade,current,prune-ledger,settings}",
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
    prune = dbsub.add_parser(
        "prune-ledger",
        help="remove ledger rows of executions before DATE whose trades still exist",
    )
    prune.add_argument(
        "--before",
        type=_day,
        required=True,
        metavar="DATE",
        help="YYYY-MM-DD: executions before its midnight in source_timezone "
        "(default: none, required)",
    )
    prune.add_argument(
        "--source-timezone",
        metavar="ZONE",
        help="IANA zone DATE's midnight is in (default: source_timezone, the host's zone)",
    )
    add_common(prune)
    prune.set_defaults(handler=handle_prune)
    _register_settings(dbsub)


def _register_settings(dbsub: Any) -> None:
    p = dbsub.add_parser(
        "settings",
        help="show the reading settings this journal recorded for the instance, or change "
        "them with the flags given",
    )
    keep = " (default: the recorded one stays)"
    p.add_argument("--source-timezone", metavar="ZONE", help="record this IANA zone" + keep)
    p.add_argument(
        "--date-order", choices=["auto", "mdy", "dmy"], help="record this date order" + keep
    )
    p.add_argument(
        "--decimal-mark", choices=["auto", ".", ","], help="record this decimal mark" + keep
    )
    p.add_argument(
        "--default-account", metavar="ACCOUNT", help="record this default account" + keep
    )
    add_common(p)
    p.set_defaults(handler=handle_settings)


def handle_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Show the recorded reading settings, or record the values the flags give. Files
    already read keep the values they were read with (repair them with --reread
    --replace)."""
    flags = frozenset(n for n in RECORDED_SETTINGS if getattr(args, n, None) is not None)
    engine = open_journal(settings, create=bool(flags))
    try:
        schema.prepare_database(engine, settings)
        if flags:
            now = recorded.change(engine, dataclasses.replace(settings, given=flags))
            log.info("settings_recorded", instance=settings.instance_name, **now.as_settings())
        else:
            with engine.connect() as conn:
                now_or_none = recorded.load(conn, settings.instance_name)
            if now_or_none is None:
                print(f"instance {settings.instance_name}: nothing recorded yet")
                return ExitCode.OK
            now = now_or_none
    finally:
        engine.dispose()
    shown = " ".join(f"{k}={v if v is not None else 'none'}" for k, v in now.as_settings().items())
    print(visible(f"instance {settings.instance_name}: {shown}"))
    return ExitCode.OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def handle_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Prune the ledger before the horizon; the horizon then refuses older unknown IDs."""
    engine = open_journal(settings, create=False)
    try:
        schema.prepare_database(engine, settings)
        local = datetime.combine(args.before, time(0), settings.tz)
        horizon = local.astimezone(UTC).replace(tzinfo=None)
        # Exclusively (waits for imports in flight, on PostgreSQL too): no import can
        # check the horizon while its rows go.
        with writing(engine, rebuild=True) as conn:
            removed = prune_ledger(conn, horizon, utc_now())
        log.info("ledger_pruned", horizon=horizon.isoformat() + "Z", rows=removed)
        print(
            f"pruned {removed} ledger rows of executions before {horizon.isoformat()}Z; "
            "older executions not in the journal are refused from now on"
        )
    finally:
        engine.dispose()
    return ExitCode.OK


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
