"""Realized P&L per group for ``pnl`` and the journal page's calendar: added up from the
stored bookings (``statement``), or by replaying every selected part FIFO (``booking``),
the reference both are tested against."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, select

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.db.tables import ROUND_TRIP_FILLS, ROUND_TRIPS, TRADES
from csv_import_daemon.trips.booking import (
    Booking,
    PartRow,
    StaleRoundTrip,
    Statement,
    book,
    group_bookings,
    label_of,
)
from csv_import_daemon.trips.consistency import Drift, check_round_trips
from csv_import_daemon.trips.queries import _STREAM, GroupBy, TripFilter, _matching, trip_where
from csv_import_daemon.trips.statement import Unreliable, booked_groups, booking_where


def pnl_groups(
    conn: Connection,
    by: GroupBy,
    rollover: Rollover,
    *,
    values: PointValues | None = None,
    flt: TripFilter | None = None,
    drift: Drift | None = None,
) -> list[dict[str, Any]]:
    """Realized P&L per group and currency, each exit and commission on its fill's day.

    Open round trips count with what they realized so far. Added up from the stored
    bookings (``statement``); the same as replaying every part (``reference_pnl_groups``).
    Raises ``StaleRoundTrip`` when a round trip's fill is gone from ``trades`` (``drift``:
    the consistency check's answer, when the caller has it already).
    """
    flt = flt or TripFilter()
    values = values or PointValues()
    label_of(by)  # an unknown grouping fails here, as the reference does
    if flt.state is not None:
        return reference_pnl_groups(conn, by, rollover, values=values, flt=flt)
    if (drift or check_round_trips(conn)).fills_without_trade:
        raise StaleRoundTrip(None)  # no booking of a guess
    where = booking_where(*_matching(conn, flt), (flt.since, flt.until), rollover)

    def replay(ids: Sequence[int]) -> Iterator[Booking]:
        return book(_parts(conn, flt, rollover, ids), values, rollover)

    try:
        return booked_groups(
            conn, Statement(by, flt.since, flt.until), rollover, values, where, replay
        )
    except Unreliable:
        return reference_pnl_groups(conn, by, rollover, values=values, flt=flt)


def reference_pnl_groups(
    conn: Connection,
    by: GroupBy,
    rollover: Rollover,
    *,
    values: PointValues | None = None,
    flt: TripFilter | None = None,
) -> list[dict[str, Any]]:
    """``pnl_groups`` by replaying every selected part FIFO (``booking``): the reference."""
    flt = flt or TripFilter()
    bookings = book(_parts(conn, flt, rollover), values or PointValues(), rollover)
    if flt.since is not None:
        since = flt.since
        bookings = (b for b in bookings if b.day >= since)
    if flt.until is not None:
        until = flt.until
        bookings = (b for b in bookings if b.day <= until)
    return group_bookings(bookings, by)


def _parts(
    conn: Connection, flt: TripFilter, rollover: Rollover, ids: Sequence[int] | None = None
) -> Iterator[PartRow]:
    """The selected round trips' parts with their fills' price and time, in part order."""
    f, t, tr = ROUND_TRIP_FILLS.c, ROUND_TRIPS.c, TRADES.c
    query = (
        select(
            f.round_trip_id,
            t.account,
            t.instrument,
            t.direction,
            f.role,
            f.quantity,
            f.commission,
            tr.price,
            tr.executed_at,
            tr.commission_currency,
            t.contract,
        )
        .select_from(
            ROUND_TRIP_FILLS.join(ROUND_TRIPS, t.id == f.round_trip_id).outerjoin(
                TRADES, tr.execution_id == f.execution_id
            )
        )
        .order_by(f.round_trip_id, f.seq)
    )
    if ids is not None:
        query = query.where(f.round_trip_id.in_(list(ids)))
    rows = conn.execution_options(yield_per=_STREAM).execute(trip_where(conn, query, flt, rollover))
    for row in rows:
        if row[7] is None:  # the fill was deleted from trades since
            raise StaleRoundTrip(row[0])
        yield PartRow._make(row)
