"""Read round trips and realized P&L back out, for the ``round-trips`` and ``pnl`` commands."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, select

from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.db.tables import ROUND_TRIP_FILLS, ROUND_TRIPS
from csv_import_daemon.trips.sql import TRIP_COLUMNS

GroupBy = Literal["day", "week", "month", "account", "instrument"]
# A round trip's columns as reports show them: the table's, without its id.
FIELDS = TRIP_COLUMNS[1:]
MONEY = ("entry_price", "exit_price", "points", "pnl", "commission", "net_pnl")
_FILL_CHUNK = 500
# A spreadsheet may split a line on ",", ";" (de-DE, fr-FR) or TAB whatever we meant: a
# part of a text cell that starts (after blanks or quotes) with one of these is a formula.
_LIVE_PART = re.compile(r"(^|[,;\t])([ \"']*)(?=[=+\-@\t\r])")


@dataclass(frozen=True, slots=True)
class TripFilter:
    """What ``round-trips`` selects; dates are trading days, inclusive."""

    account: str | None = None
    instrument: str | None = None
    state: Literal["open", "closed"] | None = None
    since: date | None = None
    until: date | None = None


def day_start(day: date, rollover: Rollover) -> datetime:
    """The first instant (naive UTC) of trading day ``day``."""
    first = day - timedelta(days=1) if rollover.at != clock_time(0, 0) else day
    local = datetime.combine(first, rollover.at, rollover.zone)
    return local.astimezone(UTC).replace(tzinfo=None)


def load_round_trips(conn: Connection, flt: TripFilter, rollover: Rollover) -> list[dict[str, Any]]:
    """The selected round trips, oldest first, each with its ``executions``."""
    t = ROUND_TRIPS.c
    query = select(ROUND_TRIPS).order_by(t.opened_at, t.account, t.instrument, t.id)
    if flt.account is not None:
        query = query.where(t.account == flt.account)
    if flt.instrument is not None:
        query = query.where(t.instrument == flt.instrument)
    if flt.state == "open":
        query = query.where(t.closed_at.is_(None))
    elif flt.state == "closed":
        query = query.where(t.closed_at.is_not(None))
    if flt.since is not None:
        query = query.where(t.opened_at >= day_start(flt.since, rollover))
    if flt.until is not None:
        query = query.where(t.opened_at < day_start(flt.until + timedelta(days=1), rollover))
    trips = [dict(r) for r in conn.execute(query).mappings()]
    # Sorted here too: PostgreSQL's collation may order text differently from SQLite.
    trips.sort(key=lambda r: (r["opened_at"], r["account"], r["instrument"], r["id"]))
    executions = _executions(conn, [trip["id"] for trip in trips])
    for trip in trips:
        trip["executions"] = executions.get(trip.pop("id"), [])
    return trips


def _executions(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    f = ROUND_TRIP_FILLS.c
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), _FILL_CHUNK):
        chunk = list(ids[i : i + _FILL_CHUNK])
        rows = conn.execute(
            select(f.round_trip_id, f.execution_id, f.quantity)
            .where(f.round_trip_id.in_(chunk))
            .order_by(f.round_trip_id, f.seq)
        )
        for trip_id, execution_id, quantity in rows:
            out.setdefault(trip_id, []).append({"execution_id": execution_id, "quantity": quantity})
    return out


def group_key(trip: dict[str, Any], by: GroupBy, rollover: Rollover) -> str:
    if by in ("account", "instrument"):
        return str(trip[by])
    day = rollover.day_of(trip["closed_at"])
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day:%Y-%m}"


def pnl_groups(conn: Connection, by: GroupBy, rollover: Rollover) -> list[dict[str, Any]]:
    """Realized P&L of closed round trips per group and currency, in group order."""
    t = ROUND_TRIPS.c
    query = select(
        t.account, t.instrument, t.closed_at, t.points, t.pnl, t.commission, t.net_pnl, t.currency
    ).where(t.closed_at.is_not(None))
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        key = (group_key(dict(row), by, rollover), row["currency"] or "")
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                by: key[0],
                "currency": row["currency"],
                "round_trips": 0,
                "pnl": Decimal(0) if row["currency"] else None,
                "commission": Decimal(0),
                "net_pnl": Decimal(0) if row["currency"] else None,
            }
        group["round_trips"] += 1
        group["commission"] += row["commission"] or 0  # null only past NUMERIC(38, 8)
        if group["pnl"] is not None and row["net_pnl"] is not None:
            group["pnl"] += row["pnl"]
            group["net_pnl"] += row["net_pnl"]
    return [groups[k] for k in sorted(groups)]


# -- rendering ----------------------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """Canonical text of an exact decimal: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def time_text(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings, times as ISO 8601 UTC."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = decimal_text(value)
        elif isinstance(value, datetime):
            out[key] = time_text(value)
        else:
            out[key] = value
    return out


def safe_cell(value: Any) -> Any:
    """A spreadsheet cell: numbers stay numbers, formula-like text is made inert however
    the line is split (``,``, ``;`` or TAB)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | Decimal):
        return decimal_text(Decimal(value))
    if isinstance(value, datetime):
        return time_text(value)
    # A "'" before each part that would start a formula, under any of the separators.
    return _LIVE_PART.sub(r"\1\2'", str(value))


def display(value: Any) -> str:
    """A terminal cell: exact decimals, ISO times, empty for null."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return str(time_text(value))
    return str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def table_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned table for a terminal."""
    cells = [[str(h) for h in header]]
    cells += [[display(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
