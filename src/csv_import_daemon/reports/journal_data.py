"""What the journal page reads, in one read transaction: the round trips as ``round-trips``
selects them (``trips.queries``), the details of their fills, and the journal's health.

Only file names are kept of the journal's files, never their folders: the page may be
shared, and a path tells more than the trader chose to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath, PureWindowsPath
from typing import Any

from sqlalchemy import Connection, func, inspect, select

from csv_import_daemon.config.point_values import PointValues, instrument_root
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.db.tables import (
    FILES,
    REJECTIONS,
    ROUND_TRIP_FILLS,
    ROUND_TRIPS,
    TRADES,
    CheckpointStatus,
)
from csv_import_daemon.reports.status import file_problem
from csv_import_daemon.trips.queries import (
    StaleRoundTrip,
    TripFilter,
    load_round_trips,
    pnl_groups,
    trip_where,
)


@dataclass(frozen=True, slots=True)
class PageFilter:
    """What ``report`` selects; days are trading days a round trip opened on (as
    ``round-trips --since/--until``), inclusive."""

    account: str | None = None
    root: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True, slots=True)
class FillDetail:
    """One execution as the trades table holds it (time naive UTC)."""

    executed_at: datetime
    action: str
    price: Decimal
    order_name: str | None


@dataclass(frozen=True, slots=True)
class ProblemFile:
    name: str  # the file's name only
    problem: str
    rejected: int
    conflicts: int


@dataclass(frozen=True, slots=True)
class Health:
    """The journal at a glance: what ``status`` would flag."""

    trades: int = 0
    files: int = 0
    problem_files: tuple[ProblemFile, ...] = ()
    rejections: tuple[tuple[str, int], ...] = ()  # reason, count
    last_import: datetime | None = None


@dataclass(slots=True)
class JournalData:
    trips: list[dict[str, Any]]
    fills: dict[str, FillDetail] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    # ``pnl --by day``'s groups for the same selection (each exit on its fill's trading
    # day); None when the round trips are stale (``round-trips --rebuild`` mends them).
    daily: list[dict[str, Any]] | None = field(default_factory=list)


def file_name(path: str) -> str:
    """The last part of a stored path, whether it was written on Windows or POSIX."""
    return PureWindowsPath(path).name if "\\" in path else PurePath(path).name


def load_journal(
    conn: Connection,
    flt: PageFilter,
    rollover: Rollover,
    *,
    values: PointValues | None = None,
) -> JournalData:
    """Everything the page shows, read on ``conn`` (one snapshot when it is a transaction)."""
    if not inspect(conn).has_table("round_trips"):
        return JournalData(trips=[])
    selected = TripFilter(account=flt.account, since=flt.since, until=flt.until, root=flt.root)
    try:
        daily: list[dict[str, Any]] | None = pnl_groups(
            conn, "day", rollover, values=values, flt=selected
        )
    except StaleRoundTrip:
        daily = None
    trips = load_round_trips(
        conn, TripFilter(account=flt.account, since=flt.since, until=flt.until), rollover
    )
    if flt.root is not None:
        wanted = flt.root.strip().upper()
        trips = [t for t in trips if instrument_root(t["instrument"]) == wanted]
    return JournalData(
        trips=trips, fills=_fills(conn, flt, rollover), health=_health(conn), daily=daily
    )


def _fills(conn: Connection, flt: PageFilter, rollover: Rollover) -> dict[str, FillDetail]:
    """The fills of the round trips ``flt`` selects (as ``load_round_trips`` does), in one
    query: a year's 60,000 fills in one pass instead of hundreds of ``IN`` lists."""
    t, f, r = TRADES.c, ROUND_TRIP_FILLS.c, ROUND_TRIPS.c
    query = (
        select(t.execution_id, t.executed_at, t.action, t.price, t.order_name)
        .join_from(ROUND_TRIP_FILLS, TRADES, t.execution_id == f.execution_id)
        .join(ROUND_TRIPS, r.id == f.round_trip_id)
    )
    # The same round trips as load_round_trips selects (one day rule, any-case account).
    trips = TripFilter(account=flt.account, since=flt.since, until=flt.until)
    query = trip_where(conn, query, trips, rollover)
    return {eid: FillDetail(at, a, p, n) for eid, at, a, p, n in conn.execute(query).all()}


def _health(conn: Connection) -> Health:
    present = {c["name"] for c in inspect(conn).get_columns("import_files")}
    columns = [c for c in FILES.c if c.name in present]
    problems = []
    count = 0
    for row in conn.execute(select(*columns)):
        count += 1
        problem = file_problem(row)
        if problem is not None:
            problems.append(ProblemFile(file_name(row.path), problem, row.rejected, row.conflicts))
    problems.sort(key=lambda p: (p.problem, p.name))
    reasons = conn.execute(
        select(REJECTIONS.c.reason, func.count()).group_by(REJECTIONS.c.reason)
    ).all()
    last = conn.scalar(
        select(func.max(FILES.c.updated_at)).where(FILES.c.status != CheckpointStatus.REFUSED.value)
    )
    return Health(
        trades=conn.scalar(select(func.count()).select_from(TRADES)) or 0,
        files=count,
        problem_files=tuple(problems),
        rejections=tuple(sorted((str(r), int(n)) for r, n in reasons)),
        last_import=last,
    )
