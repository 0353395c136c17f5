"""The ``round-trips`` and ``pnl`` commands; cli.py wires them with ``register``."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from csv_import_daemon.cli.common import add_common, open_journal
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import recorded, schema
from csv_import_daemon.db.engine import writing
from csv_import_daemon.errors import ConfigError, ExitCode
from csv_import_daemon.logs import get_logger
from csv_import_daemon.trips.booking import GROUPS
from csv_import_daemon.trips.consistency import check_round_trips
from csv_import_daemon.trips.pnl import pnl_groups
from csv_import_daemon.trips.positions import PositionMismatch, position_mismatches
from csv_import_daemon.trips.queries import (
    SHOWN,
    TripFilter,
    csv_text,
    decimal_text,
    display,
    iter_round_trips,
    jsonable,
    known_values,
    table_text,
)
from csv_import_daemon.trips.refresh import rebuild_round_trips
from csv_import_daemon.trips.render import aligned, in_zone, localized, with_local_times

log = get_logger(__name__)

COMMANDS = ("round-trips", "pnl")
_TOTALS = ("pnl", "commission", "net_pnl")
_MARK = "*"  # beside a commission (partly) from the commissions setting, in the table
_HINTED = 20  # known values a hint lists


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _output(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="a JSON array on stdout (default: table)")
    out.add_argument(
        "--csv", action="store_true", help="CSV on stdout, safe for spreadsheets (default: table)"
    )


def _filters(p: argparse.ArgumentParser, *, what: str) -> None:
    p.add_argument("--account", help="only this account, any case (default: all)")
    p.add_argument("--instrument", help="only this instrument, any case (default: all)")
    p.add_argument("--root", help="only this contract root, e.g. MNQ (default: all)")
    p.add_argument(
        "--since", type=_day, help=f"first trading day (YYYY-MM-DD) {what} (default: any)"
    )
    p.add_argument(
        "--until", type=_day, help=f"last trading day (YYYY-MM-DD) {what} (default: any)"
    )


def register(sub: Any) -> None:
    """Add ``round-trips`` and ``pnl`` to the CLI's subparsers."""
    p = sub.add_parser("round-trips")  # its help: cli.main.COMMANDS
    _filters(p, what="with a fill of the round trip")
    state = p.add_mutually_exclusive_group()
    state.add_argument(
        "--open",
        dest="state",
        action="store_const",
        const="open",
        help="only open ones (default: open and closed)",
    )
    state.add_argument(
        "--closed",
        dest="state",
        action="store_const",
        const="closed",
        help="only closed ones (default: open and closed)",
    )
    _output(p)
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="recompute every round trip from trades (after trades were edited by hand; "
        "default: off)",
    )
    add_common(p)
    p.set_defaults(handler=run)
    p = sub.add_parser("pnl")  # its help: cli.main.COMMANDS
    p.add_argument(
        "--by",
        choices=list(GROUPS),
        default="day",
        help="grouping; a day is a trading day (trading_day_rollover) (default: day)",
    )
    _filters(p, what="booked")
    _output(p)
    add_common(p)
    p.set_defaults(handler=run, state=None)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The command's journal must exist: reports never invent an empty one."""
    engine = open_journal(settings, create=False)
    try:
        return handle(engine, settings, args)
    finally:
        engine.dispose()


def handle(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    """Run ``round-trips`` or ``pnl``; results on stdout, a hint on stderr for no match."""
    schema.prepare_database(engine, settings)
    # The zone the journal recorded, not the host's, when none is given (display times).
    settings = recorded.settle(engine, settings, record=False)
    rollover = settings.rollover
    values = PointValues(dict(settings.point_values))
    schedule = CommissionSchedule(dict(settings.commissions))
    flt = TripFilter(
        args.account, args.instrument, args.state, args.since, args.until, root=args.root
    )
    if args.command == "pnl":
        with engine.connect() as conn:
            # pnl books with the settings' point values, and the fills' stored commissions.
            drift = check_round_trips(conn, schedule=schedule)
            groups = pnl_groups(conn, args.by, rollover, values=values, flt=flt, drift=drift)
            hint = _hint(conn, flt) if not groups else None
            positions = position_mismatches(conn)
        columns = [args.by, "currency", "round_trips", "pnl", "commission", "net_pnl"]
        _emit(args, groups, columns)
        if not (args.json or args.csv):
            print(_totals(groups, count=False))
        _say(hint)
        _say(drift.describe() if drift.stale else None)
        _warn_positions(positions)
        return ExitCode.OK
    if args.rebuild:
        if any(
            getattr(args, k) for k in ("account", "instrument", "root", "state", "since", "until")
        ):
            raise ConfigError("round-trips --rebuild recomputes everything; it takes no filters")
        with writing(engine, rebuild=True) as conn:  # waits for the imports in flight
            count = rebuild_round_trips(conn, values, schedule)
        log.info("round_trips_rebuilt", round_trips=count)
        print(f"rebuilt {count} round trips from trades")
        return ExitCode.OK
    zone = settings.display_zone
    with engine.connect() as conn:
        drift = check_round_trips(conn, values, schedule=schedule)
        positions = position_mismatches(conn)
        trips = iter_round_trips(conn, flt, rollover, prices=args.json)  # not in table, CSV
        # JSON and CSV are written as they are read: years of round trips in flat memory.
        if args.json:
            shown = _json_array((jsonable(with_local_times(t, zone)) for t in trips), sys.stdout)
        elif args.csv:
            shown = _csv_rows(trips, zone)
        else:
            shown = _table(trips, zone)
        hint = _hint(conn, flt) if not shown else None
    _say(hint)
    _say(drift.describe() if drift.stale else None)
    _warn_positions(positions)
    return ExitCode.OK


def _table(trips: Iterable[dict[str, Any]], zone: ZoneInfo) -> int:
    """The round trips as an aligned table and its totals on stdout; how many."""
    with _collector_paused():
        listed = list(trips)
        columns = [k for k in SHOWN if k != "currency"] + ["currency"]
        scheduled = [_scheduled(t) for t in listed]
        rows = [_marked(t) if s else t for t, s in zip(listed, scheduled, strict=True)]
        print(aligned(columns, [[_cell(t[k], zone) for k in columns] for t in rows]))
    print(_totals(listed))
    if any(scheduled):
        print(f"{_MARK} commission from the commissions setting (in part or whole)")
    return len(listed)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic collection while the table is read and laid out: it holds every row to
    the end anyway (what it allocates is what it keeps), and each collection re-walked the
    rows read so far (0.05 s of a month's listing). JSON and CSV stream: not paused."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _json_array(items: Iterable[Any], out: TextIO) -> int:
    """``items`` as ``json.dumps(list(items), indent=2)`` would print them, one at a time."""
    count = 0
    for item in items:
        out.write("[\n" if count == 0 else ",\n")
        out.write(textwrap.indent(json.dumps(item, indent=2), "  "))
        count += 1
    out.write("\n]\n" if count else "[]\n")
    return count


def _csv_rows(trips: Iterable[dict[str, Any]], zone: ZoneInfo) -> int:
    """The round trips as CSV on stdout, a chunk at a time; how many."""
    count = 0
    header: Sequence[str] | None = [*SHOWN, "executions"]
    chunk: list[list[Any]] = []
    for trip in trips:
        t = localized(trip, zone, executions=False)  # the cell shows ids and quantities
        chunk.append([*(t[k] for k in SHOWN), _executions_cell(t["executions"])])
        count += 1
        if len(chunk) >= 1000:
            sys.stdout.write(csv_text(header, chunk))
            header, chunk = None, []
    if chunk or header is not None:
        sys.stdout.write(csv_text(header, chunk))
    return count


def _hint(conn: Connection, flt: TripFilter) -> str | None:
    """For a filter that matches nothing at all: the values it could have named."""
    asked = (("account", flt.account), ("instrument", flt.instrument), ("root", flt.root))
    for what, text in asked:
        if text is None:
            continue
        known = known_values(conn, what)  # type: ignore[arg-type]
        wanted = text.strip().casefold()
        if not any(v.casefold() == wanted for v in known):
            shown = ", ".join(known[:_HINTED]) + (", ..." if len(known) > _HINTED else "")
            return f"no {what} matches {text!r} (any case); known: {shown or 'none yet'}"
    return None


def _warn_positions(mismatches: list[PositionMismatch]) -> None:
    for m in mismatches:
        log.warning(
            "position_mismatch",
            account=m.account,
            instrument=m.instrument,
            file_says=m.file_says,
            computed=m.computed,
        )
        _say(visible(m.describe()))


def _say(hint: str | None) -> None:
    if hint is not None:
        print(hint, file=sys.stderr)


def _emit(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if args.json:
        print(json.dumps([jsonable(r) for r in rows], indent=2))
    elif args.csv:
        print(csv_text(columns, [[r[c] for c in columns] for r in rows]), end="")
    else:
        print(table_text(columns, [[visible(r[c]) for c in columns] for r in rows]))


def _cell(value: Any, zone: ZoneInfo) -> str:
    """A table cell's text: ``display``'s, escaped for a terminal where it is text (numbers
    and times hold no control character), a time in the display zone; one call a cell (a
    listing has thousands of rows of 19)."""
    if isinstance(value, str):
        return str(visible(value))
    if isinstance(value, datetime):
        return display(in_zone(value, zone))
    return display(value)


def _scheduled(trip: dict[str, Any]) -> bool:
    return any(str(e["commission_source"]).startswith("schedule") for e in trip["executions"])


def _marked(trip: dict[str, Any]) -> dict[str, Any]:
    """The table's row, its commission marked where a fill's came from the schedule."""
    if not _scheduled(trip) or trip["commission"] is None:
        return trip
    return {**trip, "commission": f"{decimal_text(trip['commission'])}{_MARK}"}


def _executions_cell(executions: list[dict[str, Any]]) -> str:
    return " ".join(f"{e['execution_id']}x{e['quantity']}" for e in executions)


def _totals(rows: list[dict[str, Any]], *, count: bool = True) -> str:
    """One line per currency; rows without a point value are counted apart."""
    sums: dict[str, dict[str, Decimal]] = {}
    unpriced = 0
    for row in rows:
        if row["currency"] is None:
            unpriced += 1
            continue
        acc = sums.setdefault(row["currency"], dict.fromkeys(_TOTALS, Decimal(0)))
        if row["commission"] is None and row.get("commission_currency") is None:
            # Commissions in two currencies: each fill's in its own currency's line.
            acc["pnl"] += row["pnl"] or 0
            acc["net_pnl"] += row["pnl"] or 0
            for e in row["executions"]:
                other = sums.setdefault(
                    e["commission_currency"] or row["currency"], dict.fromkeys(_TOTALS, Decimal(0))
                )
                other["commission"] += e["commission"] or 0
                other["net_pnl"] -= e["commission"] or 0
            continue
        paid_in = row.get("commission_currency") or row["currency"]
        if paid_in == row["currency"]:
            for k in _TOTALS:
                acc[k] += row[k] or 0  # null only past NUMERIC(38, 8)
            continue
        # A commission in another currency counts in that currency's line, never netted.
        acc["pnl"] += row["pnl"] or 0
        acc["net_pnl"] += row["pnl"] or 0
        other = sums.setdefault(paid_in, dict.fromkeys(_TOTALS, Decimal(0)))
        other["commission"] += row["commission"] or 0
        other["net_pnl"] -= row["commission"] or 0
    lines = [f"{len(rows)} round trips"] if count else []
    for currency, acc in sorted(sums.items()):
        lines.append(
            f"total {currency}: pnl {decimal_text(acc['pnl'])}  "
            f"commission {decimal_text(acc['commission'])}  net_pnl {decimal_text(acc['net_pnl'])}"
        )
    if unpriced:
        what = "round trips" if count else "rows"
        lines.append(f"{unpriced} {what} without a point value (see point_values)")
    return "\n".join(lines)
