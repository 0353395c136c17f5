"""Read round trips and realized P&L back out, for the ``round-trips`` and ``pnl`` commands.

One day rule everywhere: a fill belongs to the trading day ``Rollover.day_of`` gives its
time. ``pnl`` books each part on its fill's day (see ``booking``); ``round-trips --since /
--until`` select the round trips with a fill on a day of the range. Account, instrument and
root filters match case-insensitively against the values stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Select, and_, or_, select

from csv_import_daemon.config.contracts import contract_of
from csv_import_daemon.config.point_values import instrument_root
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.db.tables import ROUND_TRIP_FILLS, ROUND_TRIPS, TRADES
from csv_import_daemon.trips.booking import (
    StaleRoundTrip,
)
from csv_import_daemon.trips.fifo import ZERO, money_of
from csv_import_daemon.trips.render import (
    csv_text,
    decimal_text,
    display,
    jsonable,
    safe_cell,
    table_text,
    time_text,
)
from csv_import_daemon.trips.sql import TRIP_COLUMNS

__all__ = [
    "FIELDS",
    "MONEY",
    "SHOWN",
    "GroupBy",
    "StaleRoundTrip",
    "TripFilter",
    "csv_text",
    "decimal_text",
    "display",
    "group_key",
    "iter_closing_order",
    "iter_round_trips",
    "jsonable",
    "known_values",
    "load_round_trips",
    "safe_cell",
    "split_commissions",
    "stable_id",
    "table_text",
    "time_text",
    "trip_where",
]

GroupBy = Literal["day", "week", "month", "account", "instrument", "contract", "root"]
# A round trip's stored columns as reports show them: the table's, without its row id.
FIELDS = TRIP_COLUMNS[1:]
# What round-trips shows: the stable id first, then the columns with the computed ones.
SHOWN = (
    "id",
    *FIELDS[:5],
    "trading_day",
    *FIELDS[5:10],
    "points_per_contract",
    *FIELDS[10:],
)
MONEY = ("entry_price", "exit_price", "points", "pnl", "commission", "net_pnl")
_FILL_CHUNK = 500
_Q = TypeVar("_Q", bound=Select[Any])
_STREAM = 10_000  # rows fetched at a time by ``pnl``


@dataclass(frozen=True, slots=True)
class TripFilter:
    """What ``round-trips`` and ``pnl`` select; dates are trading days, inclusive.

    ``account``, ``instrument`` and ``root`` match the stored values case-insensitively.
    """

    account: str | None = None
    instrument: str | None = None
    state: Literal["open", "closed"] | None = None
    since: date | None = None
    until: date | None = None
    root: str | None = None


def group_key(trip: dict[str, Any], by: str, rollover: Rollover) -> str:
    """A whole round trip's group: its account, instrument, or the trading day, ISO week or
    month it closed on. ``pnl`` books each exit on its own day instead (``booking``)."""
    if by in ("account", "instrument", "contract"):
        return str(trip[by])
    day = rollover.day_of(trip["closed_at"])
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day:%Y-%m}"


def known_values(conn: Connection, what: Literal["account", "instrument", "root"]) -> list[str]:
    """The accounts, instruments or roots round trips hold, sorted (for a filter's hint)."""
    t = ROUND_TRIPS.c
    column = t.account if what == "account" else t.instrument
    values = {str(v) for v in conn.execute(select(column).distinct()).scalars()}
    if what == "root":
        values = {instrument_root(v) for v in values}
    return sorted(values, key=lambda v: (v.casefold(), v))


def _matching(conn: Connection, flt: TripFilter) -> tuple[list[str] | None, list[str] | None]:
    """The stored accounts and contracts the filter's text selects (None: any)."""
    accounts = contracts = None
    if flt.account is not None:
        wanted = flt.account.strip().casefold()
        accounts = [a for a in known_values(conn, "account") if a.casefold() == wanted]
    if flt.instrument is not None or flt.root is not None:
        t = ROUND_TRIPS.c
        pairs = [
            (str(i), str(c)) for i, c in conn.execute(select(t.instrument, t.contract).distinct())
        ]
        if flt.instrument is not None:
            # Any spelling of the contract (``MNQ JUN26`` finds ``MNQ 06-26``); a one-digit
            # year (``MNQM6``) names a contract only where a stored fill spells it so.
            text = flt.instrument.strip()
            names = {text.casefold(), contract_of(text).casefold()}
            pairs = [(i, c) for i, c in pairs if i.casefold() in names or c.casefold() in names]
        if flt.root is not None:
            root = flt.root.strip().upper()
            pairs = [(i, c) for i, c in pairs if instrument_root(c) == root]
        contracts = sorted({c for _, c in pairs})
    return accounts, contracts


def trip_where(conn: Connection, query: _Q, flt: TripFilter, rollover: Rollover) -> _Q:
    t = ROUND_TRIPS.c
    accounts, contracts = _matching(conn, flt)
    if accounts is not None:
        query = query.where(t.account.in_(accounts))
    if contracts is not None:
        query = query.where(t.contract.in_(contracts))
    if flt.state == "open":
        query = query.where(t.closed_at.is_(None))
    elif flt.state == "closed":
        query = query.where(t.closed_at.is_not(None))
    # A round trip with a fill on a day of the range: opened before its end, and still open
    # or closed after its start.
    if flt.since is not None:
        start = rollover.start_of(flt.since)
        query = query.where(or_(t.closed_at.is_(None), t.closed_at >= start))
    if flt.until is not None:
        query = query.where(t.opened_at < rollover.start_of(flt.until + timedelta(days=1)))
    return query


def load_round_trips(conn: Connection, flt: TripFilter, rollover: Rollover) -> list[dict[str, Any]]:
    """The selected round trips, oldest first, each with its ``executions`` in part order
    (all of them in memory: see ``iter_round_trips`` for a stream)."""
    return list(iter_round_trips(conn, flt, rollover))


def iter_round_trips(
    conn: Connection,
    flt: TripFilter,
    rollover: Rollover,
    *,
    latest: int | None = None,
    prices: bool = True,
) -> Iterator[dict[str, Any]]:
    """The selected round trips, oldest first, each with its ``executions`` in part order,
    read ``_FILL_CHUNK`` at a time: memory stays flat on years of round trips.

    Each has a stable ``id`` (see ``stable_id``), ``points_per_contract`` and the
    ``trading_day`` it closed on (opened on, while open); each execution its ``role``,
    commission share, price and time (``prices`` false: no price and time, which the table
    and CSV do not show). ``latest``: only the last so many by opening time.
    """
    selected = trip_where(conn, select(ROUND_TRIPS), flt, rollover)
    if latest is not None:
        newest = selected.order_by(*(c.desc() for c in _opening_order(conn, ROUND_TRIPS.c)))
        selected = select(newest.limit(latest).subquery())
    t = selected.selected_columns
    query = selected.order_by(*_opening_order(conn, t))
    result = conn.execution_options(yield_per=_FILL_CHUNK).execute(query)
    for chunk in result.mappings().partitions():
        trips = [dict(r) for r in chunk]
        executions = _executions(conn, trips, prices=prices)
        for trip in trips:
            parts = executions.get(trip.pop("id"), [])
            opening = parts[0]["execution_id"] if parts else ""
            closed = trip["quantity"] - trip["open_quantity"]
            points = trip["points"]
            last = trip["closed_at"] or trip["opened_at"]
            yield {
                "id": stable_id(trip["account"], trip["instrument"], opening),
                **trip,
                "points_per_contract": (
                    None if points is None or closed == 0 else money_of(points / closed)
                ),
                "trading_day": rollover.day_of(last),
                "executions": parts,
            }


def _opening_order(conn: Connection, t: Any) -> list[Any]:
    """The table's order (opening time, account, instrument), byte-wise on both databases:
    PostgreSQL's collation may order text otherwise."""
    if conn.dialect.name == "postgresql":
        return [t.opened_at, t.account.collate("C"), t.instrument.collate("C"), t.id]
    return [t.opened_at, t.account, t.instrument, t.id]


def iter_closing_order(
    conn: Connection, flt: TripFilter, rollover: Rollover
) -> Iterator[dict[str, Any]]:
    """The selected round trips without their fills, in the order they closed (open ones
    too, in no particular place): what the journal page's figures add up, streamed. Only
    the columns the figures read (each decimal read costs: 286,000 round trips a year)."""
    t = ROUND_TRIPS.c
    columns = (t.id, t.account, t.instrument, t.opened_at, t.closed_at, t.pnl, t.commission)
    query = trip_where(
        conn, select(*columns, t.net_pnl, t.currency, t.commission_currency), flt, rollover
    ).order_by(t.closed_at, t.opened_at, t.id)
    result = conn.execution_options(yield_per=_STREAM).execute(query)
    keys = tuple(result.keys())
    for row in result:
        yield dict(zip(keys, row, strict=True))


def stable_id(account: str, instrument: str, opening_execution: str) -> str:
    """A round trip's id: the same after any rebuild, as it hangs on its opening fill."""
    text = "\x1f".join((account, instrument, opening_execution))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _executions(
    conn: Connection, trips: Sequence[dict[str, Any]], *, prices: bool
) -> dict[int, list[dict[str, Any]]]:
    """Each round trip's parts in order, with their fills' price, time and commission.

    The fills are read by (account, contract, time): a round trip's fills lie between its
    opening and closing times, and a chunk's round trips of one account and contract follow
    each other, so one range of that index holds them (joining ``trades`` by execution id
    looked up each fill at random: two thirds of a ``round-trips`` listing's reads). A fill
    not found there (a trade edited or deleted by hand) is looked up by its id, as before.
    """
    f, tr = ROUND_TRIP_FILLS.c, TRADES.c
    parts = conn.execute(
        select(f.round_trip_id, f.execution_id, f.quantity, f.role, f.commission)
        .where(f.round_trip_id.in_([trip["id"] for trip in trips]))
        .order_by(f.round_trip_id, f.seq)
    ).all()
    wanted = {row[1] for row in parts}
    shown = (tr.price, tr.executed_at) if prices else ()
    columns = select(tr.execution_id, tr.commission_currency, tr.commission_source, *shown)
    ranges = [
        and_(
            tr.account == account,
            tr.contract == contract,
            tr.executed_at >= first,
            *(() if last is None else (tr.executed_at <= last,)),
        )
        for (account, contract), (first, last) in _windows(trips).items()
    ]
    # execution id -> its trade's row (id, currency, source, price and time)
    fills = {row[0]: row for row in conn.execute(columns.where(or_(*ranges))) if row[0] in wanted}
    missing = sorted(wanted - fills.keys())
    for i in range(0, len(missing), _FILL_CHUNK):
        chunk = missing[i : i + _FILL_CHUNK]
        fills.update(
            (row[0], row) for row in conn.execute(columns.where(tr.execution_id.in_(chunk)))
        )
    out: dict[int, list[dict[str, Any]]] = {}
    no_trade = (None,) * (3 + len(shown))
    for trip_id, execution_id, quantity, role, commission in parts:
        trade = fills.get(execution_id, no_trade)
        part = {
            "execution_id": execution_id,
            "quantity": quantity,
            "role": role,
            "commission": commission,
            # The fill's: None is the P&L's currency (or a fill without commission).
            "commission_currency": trade[1],
            # file, schedule, schedule_over_zero (the commissions setting) or None.
            "commission_source": trade[2],
        }
        if prices:
            part["price"] = trade[3]  # null: deleted from trades since (rebuild)
            part["executed_at"] = trade[4]
        out.setdefault(trip_id, []).append(part)
    return out


def _windows(trips: Sequence[dict[str, Any]]) -> dict[tuple[Any, Any], tuple[Any, Any]]:
    """(account, contract) -> the first opening and last closing time of its round trips
    (None: one is still open)."""
    out: dict[tuple[Any, Any], tuple[Any, Any]] = {}
    for trip in trips:
        key = (trip["account"], trip["contract"])
        closed = trip["closed_at"]
        if key not in out:
            out[key] = (trip["opened_at"], closed)
            continue
        first, last = out[key]
        out[key] = (
            min(first, trip["opened_at"]),
            None if last is None or closed is None else max(last, closed),
        )
    return out


def split_commissions(conn: Connection) -> dict[int, dict[str, Decimal]]:
    """Round trips whose commissions are in several currencies (no one ``commission``):
    round trip id -> currency -> its fills' commission shares in it (a fill that names
    none is in the P&L's currency)."""
    f, t, tr = ROUND_TRIP_FILLS.c, ROUND_TRIPS.c, TRADES.c
    rows = conn.execute(
        select(f.round_trip_id, tr.commission_currency, t.currency, f.commission)
        .select_from(
            ROUND_TRIP_FILLS.join(ROUND_TRIPS, t.id == f.round_trip_id).join(
                TRADES, tr.execution_id == f.execution_id
            )
        )
        .where(t.commission.is_(None), t.commission_currency.is_(None), t.currency.is_not(None))
    )
    out: dict[int, dict[str, Decimal]] = {}
    for trip_id, paid_in, currency, commission in rows:
        sums = out.setdefault(trip_id, {})
        key = paid_in or currency
        sums[key] = sums.get(key, ZERO) + (commission or ZERO)
    return out
