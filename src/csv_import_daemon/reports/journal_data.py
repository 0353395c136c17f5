"""What the journal page reads, in one read transaction: the round trips as ``round-trips``
selects them (``trips.queries``), the details of their fills, and the journal's health.

Only file names are kept of the journal's files, never their folders: the page may be
shared, and a path tells more than the trader chose to show.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath, PureWindowsPath
from typing import Any

from sqlalchemy import Connection, func, inspect, select

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.db.tables import (
    FILES,
    REJECTIONS,
    TRADES,
    CheckpointStatus,
)
from csv_import_daemon.reports.journal_stats import Views, build_views
from csv_import_daemon.reports.status import file_problem
from csv_import_daemon.trips.pnl import pnl_groups
from csv_import_daemon.trips.queries import (
    StaleRoundTrip,
    TripFilter,
    iter_closing_order,
    iter_round_trips,
    split_commissions,
)

TABLE_LIMIT = 20_000  # round trips in the page's table; the figures count every one
_CHUNK = 500


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
    # The table's round trips (the latest ``TABLE_LIMIT`` by opening time) with their fills.
    trips: list[dict[str, Any]]
    fills: dict[str, FillDetail] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    # ``pnl --by day``'s groups for the same selection (each exit on its fill's trading
    # day); None when the round trips are stale (``round-trips --rebuild`` mends them).
    daily: list[dict[str, Any]] | None = field(default_factory=list)
    # The figures of every selected round trip (not only the table's); None: from ``trips``.
    views: Views | None = None
    selected: int | None = None  # how many round trips the selection holds


def file_name(path: str) -> str:
    """The last part of a stored path, whether it was written on Windows or POSIX."""
    return PureWindowsPath(path).name if "\\" in path else PurePath(path).name


def load_journal(
    conn: Connection,
    flt: PageFilter,
    rollover: Rollover,
    *,
    values: PointValues | None = None,
    zone: zoneinfo.ZoneInfo | None = None,
    table_limit: int = TABLE_LIMIT,
) -> JournalData:
    """Everything the page shows, read on ``conn`` (one snapshot when it is a transaction).

    The figures add up every selected round trip as it is read; the table holds the latest
    ``table_limit``: years of round trips stay in flat memory (a million fills took 2.4 GB
    when every round trip and fill was held for the table).
    """
    if not inspect(conn).has_table("round_trips"):
        return JournalData(trips=[])
    selected = TripFilter(account=flt.account, since=flt.since, until=flt.until, root=flt.root)
    try:
        daily: list[dict[str, Any]] | None = pnl_groups(
            conn, "day", rollover, values=values, flt=selected
        )
    except StaleRoundTrip:
        daily = None
    count = 0

    def counted(trips: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal count
        for trip in trips:
            count += 1
            yield trip

    split = split_commissions(conn)  # round trips paid in two currencies: few

    def with_split(trips: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for trip in trips:
            if trip["id"] in split:
                trip["commissions"] = split[trip["id"]]
            yield trip

    views = build_views(
        counted(with_split(iter_closing_order(conn, selected, rollover))),
        rollover,
        zone or zoneinfo.ZoneInfo("UTC"),
        statement=daily,
    )
    trips = list(iter_round_trips(conn, selected, rollover, latest=table_limit))
    return JournalData(
        trips=trips,
        fills=_fills(conn, trips),
        health=_health(conn),
        daily=daily,
        views=views,
        selected=count,
    )


def _fills(conn: Connection, trips: list[dict[str, Any]]) -> dict[str, FillDetail]:
    """The details of the table's fills, ``_CHUNK`` executions a query."""
    t = TRADES.c
    ids = [e["execution_id"] for trip in trips for e in trip["executions"]]
    out: dict[str, FillDetail] = {}
    for i in range(0, len(ids), _CHUNK):
        query = select(t.execution_id, t.executed_at, t.action, t.price, t.order_name).where(
            t.execution_id.in_(ids[i : i + _CHUNK])
        )
        out.update((eid, FillDetail(at, a, p, n)) for eid, at, a, p, n in conn.execute(query))
    return out


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
